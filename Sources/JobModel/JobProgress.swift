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
    /// Input bytes of the finished tasks that were fetched from remote models' servers.
    public let bytesFetched: Int

    public init(tasksDone: Int, tasksTotal: Int, bytesDone: Int, bytesTotal: Int, current: String, workers: Int? = nil, bytesFetched: Int = 0) {
        self.tasksDone = tasksDone
        self.tasksTotal = tasksTotal
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.current = current
        self.workers = workers
        self.bytesFetched = bytesFetched
    }
}
