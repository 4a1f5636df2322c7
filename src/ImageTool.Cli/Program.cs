namespace ImageTool.Cli;

internal static class Program
{
    private static int Main(string[] args)
    {
        Cli.RunHook = Commands.RunCommand.Run;
        return new Cli(Console.Out, Console.Error).Run(args);
    }
}
