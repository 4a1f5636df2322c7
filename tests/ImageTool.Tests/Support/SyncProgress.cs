namespace ImageTool.Tests.Support;

/// <summary>An <see cref="IProgress{T}"/> that calls its sink at once, on the reporting thread (unlike <see cref="Progress{T}"/>).</summary>
internal sealed class SyncProgress<T>(Action<T> sink) : IProgress<T>
{
    public void Report(T value) => sink(value);
}
