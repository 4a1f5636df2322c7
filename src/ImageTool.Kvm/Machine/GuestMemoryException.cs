namespace ImageTool.Kvm.Machine;

/// <summary>The guest pointed a device at memory it does not have.</summary>
internal sealed class GuestMemoryException(ulong address, long length)
    : Exception($"Guest address 0x{address:x} (+{length}) is outside guest memory");
