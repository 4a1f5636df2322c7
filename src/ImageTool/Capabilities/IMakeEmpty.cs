namespace ImageTool.Capabilities;

/// <summary>A format that can drop everything it stores so reads fall through to its backing file (qemu's bdrv_make_empty).</summary>
internal interface IMakeEmpty
{
    void MakeEmpty();
}
