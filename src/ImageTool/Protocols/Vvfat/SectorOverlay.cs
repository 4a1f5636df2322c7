using Microsoft.Win32.SafeHandles;

namespace ImageTool.Protocols.Vvfat;

/// <summary>
/// The sectors a writable vvfat disk was given and has not yet handed to host files, kept as qemu keeps them in
/// a temporary file that is unlinked at once; a bitmap says which sectors it holds.
/// </summary>
internal sealed class SectorOverlay : IDisposable
{
    private const int SectorSize = VvfatLayout.SectorSize;
    private readonly SafeFileHandle _file;
    private readonly ulong[] _present;

    public SectorOverlay(long sectors)
    {
        string path = Path.Combine(Path.GetTempPath(), $"vvfat-{Guid.NewGuid():N}.overlay");
        _file = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
        File.Delete(path);
        _present = new ulong[(sectors + 63) / 64];
    }

    public bool Has(long sector) => (_present[sector >> 6] & (1UL << (int)(sector & 63))) != 0;

    public bool Any(long firstSector, int count)
    {
        for (long s = firstSector; s < firstSector + count; s++)
            if (Has(s)) return true;
        return false;
    }

    public void Write(long sector, ReadOnlySpan<byte> data)
    {
        RandomAccess.Write(_file, data, sector * SectorSize);
        for (long s = sector; s < sector + data.Length / SectorSize; s++) _present[s >> 6] |= 1UL << (int)(s & 63);
    }

    /// <summary>Forgets sectors (their bytes now live in a host file).</summary>
    public void Drop(long sector, int count)
    {
        for (long s = sector; s < sector + count; s++) _present[s >> 6] &= ~(1UL << (int)(s & 63));
    }

    /// <summary>Copies the sectors the overlay holds over the matching parts of buffer, which starts at firstSector.</summary>
    public void PatchInto(long firstSector, Span<byte> buffer)
    {
        int count = buffer.Length / SectorSize;
        for (int i = 0; i < count;)
        {
            if (!Has(firstSector + i))
            {
                i++;
                continue;
            }
            int run = 1;
            while (i + run < count && Has(firstSector + i + run)) run++;
            var target = buffer.Slice(i * SectorSize, run * SectorSize);
            int done = RandomAccess.Read(_file, target, (firstSector + i) * SectorSize);
            target[done..].Clear();
            i += run;
        }
    }

    public void Dispose() => _file.Dispose();
}
