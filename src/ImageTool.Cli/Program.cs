namespace ImageTool.Cli;

internal static class Program
{
    private static int Main(string[] args) => new Cli(Console.Out, Console.Error).Run(args);
}
