namespace ImageTool.Capabilities;

/// <summary>
/// An image that stores persistent dirty bitmaps (<c>img bitmap</c>, <c>convert --bitmaps</c>), with the semantics
/// and messages of qemu's block-dirty-bitmap-* QMP commands: changes are stored when the image is closed.
/// </summary>
internal interface IPersistentBitmaps
{
    /// <summary>The bitmaps as stored (also of an image opened read-only).</summary>
    IReadOnlyList<PersistentBitmap> StoredBitmaps { get; }

    /// <summary>False where the format can have bitmaps but this image cannot (qcow2 v2).</summary>
    bool CanStoreBitmaps { get; }

    /// <summary>
    /// The bits of a consistent bitmap (qemu's errors for one that is missing or in use); of an image open for
    /// writing, the live bitmap that writes keep setting.
    /// </summary>
    BitmapContents ReadBitmap(string name);

    /// <summary>Adds an empty bitmap; a null <paramref name="granularity"/> takes the format's default.</summary>
    void AddBitmap(string name, long? granularity, bool disabled);

    void RemoveBitmap(string name);

    void ClearBitmap(string name);

    void EnableBitmap(string name, bool enabled);

    /// <summary>ORs the bits of <paramref name="source"/> (in this image, or in <paramref name="from"/>) into <paramref name="target"/>.</summary>
    void MergeBitmap(string source, string target, IPersistentBitmaps? from = null);
}
