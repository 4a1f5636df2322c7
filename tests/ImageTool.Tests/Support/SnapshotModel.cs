using ImageTool.Formats.Qcow2;

namespace ImageTool.Tests.Support;

/// <summary>The snapshot steps of a model-based test: what each internal snapshot holds, next to the image's own.</summary>
internal sealed class SnapshotModel
{
    private int _next;

    public Dictionary<string, byte[]> Saved { get; } = [];

    public int Count => Saved.Count;

    public void Create(Qcow2Image image, byte[] model)
    {
        string name = $"s{_next++}";
        image.CreateSnapshot(name, DateTimeOffset.UtcNow);
        Saved[name] = (byte[])model.Clone();
    }

    /// <summary>Applies a snapshot picked by <paramref name="random"/>; returns the model it restores.</summary>
    public byte[] ApplyAny(Qcow2Image image, Random random)
    {
        string name = Pick(random);
        image.ApplySnapshot(name);
        return (byte[])Saved[name].Clone();
    }

    public void DeleteAny(Qcow2Image image, Random random)
    {
        string name = Pick(random);
        image.DeleteSnapshot(name);
        Saved.Remove(name);
    }

    private string Pick(Random random) => Saved.Keys.ElementAt(random.Next(Saved.Count));
}
