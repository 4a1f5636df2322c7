namespace ImageTool.Nbd;

/// <summary>Magic numbers and codes of the NBD protocol (NetworkBlockDevice/nbd doc/proto.md); all big-endian on the wire.</summary>
internal static class NbdConstants
{
    public const ulong InitMagic = 0x4e42444d41474943; // "NBDMAGIC"
    public const ulong OptionMagic = 0x49484156454F5054; // "IHAVEOPT"
    public const ulong OptionReplyMagic = 0x3e889045565a9;
    public const uint RequestMagic = 0x25609513;
    public const uint SimpleReplyMagic = 0x67446698;
    public const uint StructuredReplyMagic = 0x668e33ef;

    public const int DefaultPort = 10809;

    /// <summary>Longest string (export name, message) the protocol allows.</summary>
    public const int MaxString = 4096;

    /// <summary>qemu's NBD_MAX_BUFFER_SIZE: the largest read or write payload qemu sends or accepts.</summary>
    public const int MaxPayload = 32 << 20;

    public const int ZeroesAfterExportName = 124;
}

/// <summary>Handshake flags (server, 16 bits) and client flags (32 bits).</summary>
[Flags]
internal enum NbdHandshakeFlags : ushort
{
    None = 0,
    FixedNewstyle = 1,
    NoZeroes = 2,
}

/// <summary>Transmission flags sent with the export's size.</summary>
[Flags]
internal enum NbdTransmissionFlags : ushort
{
    None = 0,
    HasFlags = 1 << 0,
    ReadOnly = 1 << 1,
    SendFlush = 1 << 2,
    SendFua = 1 << 3,
    Rotational = 1 << 4,
    SendTrim = 1 << 5,
    SendWriteZeroes = 1 << 6,
    SendDf = 1 << 7,
    CanMultiConn = 1 << 8,
    SendResize = 1 << 9,
    SendCache = 1 << 10,
    SendFastZero = 1 << 11,
}

internal enum NbdOption : uint
{
    ExportName = 1,
    Abort = 2,
    List = 3,
    StartTls = 5,
    Info = 6,
    Go = 7,
    StructuredReply = 8,
    ListMetaContext = 9,
    SetMetaContext = 10,
}

internal enum NbdReplyType : uint
{
    Ack = 1,
    Server = 2,
    Info = 3,
    MetaContext = 4,
    ErrUnsup = 0x80000001,
    ErrPolicy = 0x80000002,
    ErrInvalid = 0x80000003,
    ErrPlatform = 0x80000004,
    ErrTlsReqd = 0x80000005,
    ErrUnknown = 0x80000006,
    ErrShutdown = 0x80000007,
    ErrBlockSizeReqd = 0x80000008,
    ErrTooBig = 0x80000009,
}

internal enum NbdInfoType : ushort
{
    Export = 0,
    Name = 1,
    Description = 2,
    BlockSize = 3,
}

internal enum NbdCommand : ushort
{
    Read = 0,
    Write = 1,
    Disconnect = 2,
    Flush = 3,
    Trim = 4,
    Cache = 5,
    WriteZeroes = 6,
    BlockStatus = 7,
}

[Flags]
internal enum NbdCommandFlags : ushort
{
    None = 0,
    Fua = 1 << 0,
    NoHole = 1 << 1,
    DontFragment = 1 << 2,
    ReqOne = 1 << 3,
    FastZero = 1 << 4,
}

internal enum NbdChunkType : ushort
{
    None = 0,
    OffsetData = 1,
    OffsetHole = 2,
    BlockStatus = 5,
    Error = 0x8001,
    ErrorOffset = 0x8002,
}

/// <summary>Structured reply chunk flags.</summary>
[Flags]
internal enum NbdChunkFlags : ushort
{
    None = 0,
    Done = 1,
}

/// <summary>The errno values the protocol carries (Linux numbering, as the spec fixes them).</summary>
internal static class NbdError
{
    public const uint Perm = 1;
    public const uint Io = 5;
    public const uint NoMem = 12;
    public const uint Inval = 22;
    public const uint NoSpc = 28;
    public const uint Overflow = 75;
    public const uint NotSup = 95;
    public const uint Shutdown = 108;

    public static string Text(uint error) => error switch
    {
        Perm => "Operation not permitted",
        Io => "Input/output error",
        NoMem => "Cannot allocate memory",
        Inval => "Invalid argument",
        NoSpc => "No space left on device",
        Overflow => "Value too large for defined data type",
        NotSup => "Operation not supported",
        Shutdown => "Cannot send after transport endpoint shutdown",
        _ => $"Unknown error {error}",
    };
}

/// <summary>The meta contexts this implementation knows.</summary>
internal static class NbdMetaContexts
{
    public const string BaseAllocation = "base:allocation";
    public const string AllocationDepth = "qemu:allocation-depth";
    public const string DirtyBitmapPrefix = "qemu:dirty-bitmap:";

    /// <summary>qemu:dirty-bitmap:NAME's one status bit.</summary>
    public const uint StateDirty = 1;

    /// <summary>base:allocation status bits.</summary>
    public const uint StateHole = 1;
    public const uint StateZero = 2;
}
