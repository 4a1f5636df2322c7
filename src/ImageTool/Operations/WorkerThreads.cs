using System.Collections.Concurrent;

namespace ImageTool.Operations;

/// <summary>
/// A fixed set of threads of its own for convert's read-ahead and compression. The shared thread pool starts with one
/// thread per core and adds more only slowly, so reads that block in the kernel left the writer waiting; these threads
/// are all there from the start, like the worker threads behind qemu-img's coroutines.
/// </summary>
internal sealed class WorkerThreads : TaskScheduler, IDisposable
{
    private readonly BlockingCollection<Task> _queue = [];
    private readonly int _count;

    public WorkerThreads(int count)
    {
        _count = count;
        for (int i = 0; i < count; i++)
            new Thread(Work) { IsBackground = true, Name = "img worker" }.Start();
    }

    public override int MaximumConcurrencyLevel => _count;

    public Task<T> Run<T>(Func<T> work) => Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.None, this);

    public Task Run(Action work) => Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.None, this);

    private void Work()
    {
        foreach (var task in _queue.GetConsumingEnumerable()) TryExecuteTask(task);
    }

    protected override void QueueTask(Task task) => _queue.Add(task);

    protected override bool TryExecuteTaskInline(Task task, bool taskWasPreviouslyQueued) => false;

    protected override IEnumerable<Task> GetScheduledTasks() => _queue.ToArray();

    /// <summary>No more work: the threads finish what is queued and end.</summary>
    public void Dispose() => _queue.CompleteAdding();
}
