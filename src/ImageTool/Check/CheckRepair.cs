namespace ImageTool.Check;

/// <summary>What <c>img check -r</c> may fix: leaked clusters, errors, or both.</summary>
[Flags]
public enum CheckRepair
{
    /// <summary>Check only.</summary>
    None = 0,
    /// <summary>-r leaks: free leaked clusters.</summary>
    Leaks = 1,
    /// <summary>Fix corruptions (only with leaks: -r all).</summary>
    Errors = 2,
    /// <summary>-r all: leaks and corruptions.</summary>
    All = Leaks | Errors,
}
