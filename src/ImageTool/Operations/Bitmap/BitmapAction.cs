namespace ImageTool.Operations;

/// <summary>The actions of <c>img bitmap</c>, applied in command-line order.</summary>
public enum BitmapAction { Add, Remove, Clear, Enable, Disable, Merge }
