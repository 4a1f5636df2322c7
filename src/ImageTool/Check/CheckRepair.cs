namespace ImageTool.Check;

/// <summary>What <c>img check -r</c> may fix: leaked clusters, errors, or both.</summary>
[Flags]
public enum CheckRepair
{
    None = 0,
    Leaks = 1,
    Errors = 2,
    All = Leaks | Errors,
}
