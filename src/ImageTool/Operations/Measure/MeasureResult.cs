namespace ImageTool.Operations;

/// <summary>What <c>img measure</c> prints: bytes a new image needs, fully allocated, and for bitmaps.</summary>
public sealed record MeasureResult(long Required, long FullyAllocated, long? Bitmaps);
