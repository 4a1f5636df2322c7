namespace ImageTool.Operations;

/// <summary>One action; <see cref="Source"/> is the bitmap a merge reads.</summary>
public sealed record BitmapStep(BitmapAction Action, string? Source = null);
