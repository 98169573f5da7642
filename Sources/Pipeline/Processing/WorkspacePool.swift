import Synchronization

/// Workspaces (scratch buffers that grow to their largest use) kept for reuse across segments:
/// a worker borrows one for a stage and gives it back, so after the first segment no stage
/// allocates. As many exist as workers ever ran at once.
final class WorkspacePool<Workspace>: @unchecked Sendable {
    // @unchecked: a workspace is a mutable class, but the pool hands each one to one borrower
    // at a time (taken out under the lock, put back under it).
    private struct Held: @unchecked Sendable { let workspace: Workspace }
    private let free = Mutex<[Held]>([])
    private let make: @Sendable () -> Workspace

    init(make: @escaping @Sendable () -> Workspace) { self.make = make }

    /// Runs `body` with a workspace no one else holds, then keeps it for the next borrower.
    func borrow<R>(_ body: (Workspace) throws -> R) rethrows -> R {
        let space = free.withLock { $0.popLast()?.workspace } ?? make()
        defer { free.withLock { $0.append(Held(workspace: space)) } }
        return try body(space)
    }
}
