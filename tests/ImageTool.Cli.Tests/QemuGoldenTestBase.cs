using ImageTool.Tests.Support;

namespace ImageTool.Cli.Tests;

/// <summary>The base of the golden tests: a fresh scratch folder for each test, and qemu-img required.</summary>
public abstract class QemuGoldenTestBase
{
    protected TempDir Dir { get; private set; } = null!;

    [SetUp]
    public void CreateScratchFolder()
    {
        Dir = new TempDir();
        Tools.Require("qemu-img");
    }

    [TearDown]
    public void DeleteScratchFolder() => Dir.Dispose();
}
