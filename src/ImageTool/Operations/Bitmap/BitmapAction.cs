namespace ImageTool.Operations;

/// <summary>The actions of <c>img bitmap</c>, applied in command-line order.</summary>
public enum BitmapAction
{
    /// <summary>--add: create the bitmap.</summary>
    Add,
    /// <summary>--remove: delete the bitmap.</summary>
    Remove,
    /// <summary>--clear: clear every bit.</summary>
    Clear,
    /// <summary>--enable: record writes again.</summary>
    Enable,
    /// <summary>--disable: stop recording writes.</summary>
    Disable,
    /// <summary>--merge SOURCE: set the bits set in another bitmap.</summary>
    Merge,
}
