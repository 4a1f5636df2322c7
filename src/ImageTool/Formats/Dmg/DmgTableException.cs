namespace ImageTool.Formats.Dmg;

/// <summary>A block table entry beyond qemu's limits: qemu reports it on its own line, then fails the open with EINVAL.</summary>
internal sealed class DmgTableException(string message) : ImageFormatException(message);
