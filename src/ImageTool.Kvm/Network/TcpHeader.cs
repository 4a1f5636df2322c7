using System.Buffers.Binary;

namespace ImageTool.Kvm.Network;

/// <summary>The fields of a TCP segment the NAT uses, with the SYN options MSS and window scale.</summary>
internal readonly ref struct TcpHeader
{
    public const byte Fin = 1, Syn = 2, Rst = 4, Psh = 8, Ack = 16;

    public TcpHeader(ReadOnlySpan<byte> segment)
    {
        SourcePort = BinaryPrimitives.ReadUInt16BigEndian(segment);
        DestinationPort = BinaryPrimitives.ReadUInt16BigEndian(segment[2..]);
        Sequence = BinaryPrimitives.ReadUInt32BigEndian(segment[4..]);
        Acknowledgment = BinaryPrimitives.ReadUInt32BigEndian(segment[8..]);
        int offset = (segment[12] >> 4) * 4;
        Valid = offset >= 20 && offset <= segment.Length;
        Flags = segment[13];
        Window = BinaryPrimitives.ReadUInt16BigEndian(segment[14..]);
        Mss = 536;
        WindowShift = -1;
        if (!Valid) return;
        var options = segment[20..offset];
        for (int i = 0; i < options.Length;)
        {
            byte kind = options[i];
            if (kind == 0) break;
            if (kind == 1)
            {
                i++;
                continue;
            }
            if (i + 1 >= options.Length || options[i + 1] < 2 || i + options[i + 1] > options.Length) break;
            if (kind == 2 && options[i + 1] == 4) Mss = BinaryPrimitives.ReadUInt16BigEndian(options[(i + 2)..]);
            if (kind == 3 && options[i + 1] == 3) WindowShift = Math.Min((int)options[i + 2], 14);
            i += options[i + 1];
        }
        Data = segment[offset..];
    }

    public bool Valid { get; }
    public ushort SourcePort { get; }
    public ushort DestinationPort { get; }
    public uint Sequence { get; }
    public uint Acknowledgment { get; }
    public byte Flags { get; }
    public ushort Window { get; }
    public int Mss { get; }

    /// <summary>The window scale option's shift, -1 when absent.</summary>
    public int WindowShift { get; }

    public ReadOnlySpan<byte> Data { get; }

    public bool Has(byte flag) => (Flags & flag) != 0;
}
