using ImageTool.Tests.Support;

namespace ImageTool.Tests.Formats;

/// <summary>Helpers shared by the vpc and vhdx tests: masking qemu's random fields, libvhdi as a second reader.</summary>
internal static class VhdInterop
{
    /// <summary>
    /// The file with the fields qemu fills at random or from the clock zeroed: VHD footers' timestamp, checksum
    /// and UUID; VHDX headers' checksum, sequence number and GUIDs, and the Page 83 GUID.
    /// </summary>
    public static byte[] Masked(string path)
    {
        var d = File.ReadAllBytes(path);
        if (d.AsSpan(0, 8).SequenceEqual("vhdxfile"u8))
        {
            foreach (int h in new[] { 0x10000, 0x20000 }) d.AsSpan(h + 4, 44).Clear();
            long metadata = BitConverter.ToInt64(d, 0x30000 + 16 + 32 + 16);
            d.AsSpan((int)metadata + 0x10000 + 16, 16).Clear();
            return d;
        }
        foreach (long f in new long[] { 0, d.Length - 512 })
        {
            if (f < 0 || !d.AsSpan((int)f, 8).SequenceEqual("conectix"u8)) continue;
            d.AsSpan((int)f + 24, 4).Clear();
            d.AsSpan((int)f + 64, 20).Clear();
        }
        return d;
    }

    /// <summary>What libvhdi (python3-libvhdi) reads from the whole image, optionally with a parent.</summary>
    public static byte[] ReadWithLibvhdi(TempDir dir, string path, string? parent = null)
    {
        if (!File.Exists("/usr/bin/python3")) Assert.Ignore("python3 is not installed");
        string output = dir["libvhdi.out"];
        string script = $$"""
            import sys
            try:
                import pyvhdi
            except ImportError:
                sys.exit(77)
            f = pyvhdi.file(); f.open({{Quote(path)}})
            {{(parent == null ? "" : $"p = pyvhdi.file(); p.open({Quote(parent)}); f.set_parent(p)")}}
            open({{Quote(output)}}, 'wb').write(f.read_buffer(f.get_media_size()) if f.get_media_size() else b'')
            """;
        var result = Tools.Run("/usr/bin/python3", "-c", script);
        if (result.ExitCode == 77)
        {
            if (Tools.InCi) Assert.Fail("python3-libvhdi is required under CI=true (.ci/run installs it)");
            Assert.Ignore("python3-libvhdi is not installed");
        }
        result.Ok();
        return File.ReadAllBytes(output);
    }

    private static string Quote(string s) => "'" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
