using System.Runtime.ExceptionServices;

namespace ImageTool.Operations;

/// <summary>
/// A fixed set of threads of its own for convert's read-ahead and compression. The shared thread pool starts with one
/// thread per core and adds more only slowly, so reads that block in the kernel left the writer waiting; these threads
/// are all there from the start, like the worker threads behind qemu-img's coroutines. Waiting uses Monitor.Wait,
/// which sleeps at once: the pool's and Task's spin-waits cost a sched_yield storm on a busy 2-core machine.
/// </summary>
internal sealed class WorkerThreads : IDisposable
{
    private readonly Queue<Job> _queue = new();
    private bool _closed;

    public WorkerThreads(int count)
    {
        for (int i = 0; i < count; i++)
            new Thread(Work) { IsBackground = true, Name = "img worker" }.Start();
    }

    /// <summary>Queues work; <see cref="Job.Wait"/> returns when it has run and rethrows what it threw.</summary>
    public Job Run(Action work)
    {
        var job = new Job(work);
        lock (_queue)
        {
            _queue.Enqueue(job);
            Monitor.Pulse(_queue);
        }
        return job;
    }

    private void Work()
    {
        while (true)
        {
            Job job;
            lock (_queue)
            {
                while (_queue.Count == 0 && !_closed) Monitor.Wait(_queue);
                if (_queue.Count == 0) return;
                job = _queue.Dequeue();
            }
            job.Execute();
        }
    }

    /// <summary>No more work: the threads finish what is queued and end.</summary>
    public void Dispose()
    {
        lock (_queue)
        {
            _closed = true;
            Monitor.PulseAll(_queue);
        }
    }

    public sealed class Job(Action work)
    {
        private readonly object _gate = new();
        private bool _done;
        private ExceptionDispatchInfo? _error;

        internal void Execute()
        {
            try { work(); }
            catch (Exception e) { _error = ExceptionDispatchInfo.Capture(e); }
            lock (_gate)
            {
                _done = true;
                Monitor.PulseAll(_gate);
            }
        }

        public void Wait()
        {
            WaitDone();
            _error?.Throw();
        }

        /// <summary>Waits for the work to end, leaving what it threw unseen (a cancelled caller no longer wants the result).</summary>
        public void WaitDone()
        {
            lock (_gate)
            {
                while (!_done) Monitor.Wait(_gate);
            }
        }
    }
}
