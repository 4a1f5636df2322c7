namespace ImageTool.Operations;

/// <summary>What <c>img measure</c> prints: bytes a new image needs, fully allocated, and for bitmaps.</summary>
/// <param name="Required">Bytes the new image needs for the data measured.</param>
/// <param name="FullyAllocated">Bytes the new image would need with every cluster allocated.</param>
/// <param name="Bitmaps">Bytes for the persistent bitmaps copied with --bitmaps, when the target keeps bitmaps.</param>
public sealed record MeasureResult(long Required, long FullyAllocated, long? Bitmaps);
