/// Runs a job's tasks one after another in this process, each on all `threads`, writing
/// results in place: the reference every distributed run must match byte for byte.
public enum LocalJobRunner {
    public static func run(_ job: any DistributedJob, runner: any TaskRunner, threads: Int,
                           progress: (@Sendable (JobProgress) -> Void)? = nil) throws {
        let inputs = CheckpointInputs(job.models)
        let tasks = job.tasks
        do {
            var bytesDone = 0
            for (index, task) in tasks.enumerated() {
                if index + 1 < tasks.count { inputs.prefetch(tasks[index + 1].inputs) }
                try run(task, of: job, runner: runner, inputs: inputs, threads: threads)
                try job.taskFinished(index)
                bytesDone += task.outputBytes
                progress?(JobProgress(tasksDone: index + 1, tasksTotal: tasks.count, bytesDone: bytesDone,
                                      bytesTotal: job.outputBytes, current: task.label))
            }
            try job.finish()
        } catch {
            job.abandon()
            throw error
        }
    }

    /// Computes one task straight into the job's output.
    public static func run(_ task: JobTask, of job: any DistributedJob, runner: any TaskRunner, inputs: any TaskInputs, threads: Int) throws {
        try runner.run(task.work, inputs: inputs, threads: threads, into: TaskSink(inPlace: task.parts, of: job.output))
    }
}
