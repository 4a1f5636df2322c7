namespace ImageTool.Kvm.Machine;

/// <summary>Why the guest stopped normally (abnormal stops throw <see cref="Interop.KvmException"/>).</summary>
internal enum StopReason
{
    /// <summary>HLT with interrupts disabled: nothing can wake the CPU any more.</summary>
    Halted,
    /// <summary>The guest asked for a reset (keyboard controller, port 92h/CF9h, INT 19h) or powered off.</summary>
    Reset,
    /// <summary>The user quit (Ctrl-A x) or the host cancelled the run.</summary>
    Quit,
}
