namespace ImageTool;

/// <summary>
/// The name the library's hints give the tool where qemu's say <c>qemu-img</c> ("You can use 'qemu-img rebase'
/// instead"): the command line sets it to the name img was started under.
/// </summary>
internal static class ProgramName
{
    public static string Current { get; set; } = "img";
}
