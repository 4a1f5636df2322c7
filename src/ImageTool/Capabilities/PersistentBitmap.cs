namespace ImageTool.Capabilities;

/// <summary>A persistent dirty bitmap as an image stores it.</summary>
/// <param name="Name">The bitmap's name.</param>
/// <param name="Granularity">Bytes one bit covers.</param>
/// <param name="Enabled">It records new writes (qcow2's "auto" flag).</param>
/// <param name="InUse">Left inconsistent by a writer that did not close the image (qcow2's "in-use" flag).</param>
internal readonly record struct PersistentBitmap(string Name, long Granularity, bool Enabled, bool InUse);
