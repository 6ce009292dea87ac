import JobModel
import Synchronization
import TensorIO

/// A worker's inputs for one task, read from its own copies of the models. The task's first
/// read from a remote file fetches all the task's inputs in that file together (neighbouring
/// tensors by one request, several requests at once); the tensors a `keep` task fetched stay in
/// memory for the session's later tasks, so a worker that runs a model's forward passes (eval
/// tasks) fetches the model once, not once per task. Local files are read as they are (the page
/// cache keeps them).
struct FetchedInputs: TaskInputs {
    /// Fetched tensors by input, shared by the threads that read them.
    final class Store: Sendable {
        private let views = Mutex<[TaskInput: TensorView]>([:])

        func view(_ input: TaskInput) -> TensorView? { views.withLock { $0[input] } }
        func store(_ view: TensorView, for input: TaskInput) { views.withLock { $0[input] = view } }
    }

    let files: CheckpointInputs
    /// The task's inputs.
    let inputs: [TaskInput]
    /// Tensors that `keep` tasks of the session fetched.
    let kept: Store
    /// The task is a `keep` one: the remote tensors it fetches go to `kept`.
    let keep: Bool
    /// Tensors fetched for this task only.
    private let fetched = Store()

    init(files: CheckpointInputs, inputs: [TaskInput], kept: Store, keep: Bool) {
        (self.files, self.inputs, self.kept, self.keep) = (files, inputs, kept, keep)
    }

    func tensor(_ input: TaskInput) throws -> TensorView {
        if let view = kept.view(input) ?? fetched.view(input) { return view }
        guard files.models.indices.contains(input.model), files.models[input.model].remote != nil,
              let file = files.models[input.model].file(for: input.tensor) else { return try files.tensor(input) }
        let model = files.models[input.model]
        let batch = [input] + inputs.filter {
            $0 != input && $0.model == input.model && model.file(for: $0.tensor) === file && kept.view($0) == nil && fetched.view($0) == nil
        }
        let views = try file.tensors(batch.map(\.tensor))
        for (read, view) in zip(batch, views) { (keep ? kept : fetched).store(view, for: read) }
        return views[0]
    }
}
