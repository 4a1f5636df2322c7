using System.Buffers;

namespace ImageTool;

/// <summary>
/// WriteZeroes for formats without a zero flag (qcow, cow): unallocated ranges already read as zeros when
/// there is no backing file, so zeros are written only over stored data, or everywhere above a backing file.
/// </summary>
internal static class ZeroesByWriting
{
    private const int BufferSize = 1 << 20;

    public static void Write(IImage image, long offset, long length)
    {
        BlockDeviceChecks.CheckWrite(image, offset, length);
        var zeros = ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            Array.Clear(zeros, 0, BufferSize);
            long end = offset + length;
            while (offset < end)
            {
                var status = image.GetBlockStatus(offset, Math.Min(end - offset, BufferSize));
                if (status.IsAllocated || image.Backing != null) image.Write(offset, zeros.AsSpan(0, (int)status.Length));
                offset += status.Length;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(zeros);
        }
    }
}
