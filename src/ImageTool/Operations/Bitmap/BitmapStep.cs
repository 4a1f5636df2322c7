namespace ImageTool.Operations;

/// <summary>One action; <see cref="Source"/> is the bitmap a merge reads.</summary>
/// <param name="Action">What to do.</param>
/// <param name="Source">The bitmap a merge reads; null for the other actions.</param>
public sealed record BitmapStep(BitmapAction Action, string? Source = null);
