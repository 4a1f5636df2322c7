namespace ImageTool.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        var invocation = Invocation.FromProcess();
        Cli.Program = invocation.Program;
        ProgramName.Current = invocation.Program;
        return new Cli(Console.Out, Console.Error).Run(invocation.IsRunner ? ["run", .. args] : args);
    }
}
