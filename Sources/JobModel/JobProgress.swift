/// Progress of a job after each finished task.
public struct JobProgress: Sendable {
    public let tasksDone: Int
    public let tasksTotal: Int
    public let bytesDone: Int
    public let bytesTotal: Int
    /// The task that just finished.
    public let current: String
    /// Workers connected (nil when the job runs without a coordinator).
    public let workers: Int?

    public init(tasksDone: Int, tasksTotal: Int, bytesDone: Int, bytesTotal: Int, current: String, workers: Int? = nil) {
        self.tasksDone = tasksDone
        self.tasksTotal = tasksTotal
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.current = current
        self.workers = workers
    }
}
