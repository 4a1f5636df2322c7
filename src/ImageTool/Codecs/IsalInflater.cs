using System.Runtime.InteropServices;

namespace ImageTool.Codecs;

/// <summary>Raw inflate of one cluster with ISA-L; one per thread (<see cref="ForCurrentThread"/>).</summary>
internal sealed unsafe class IsalInflater : NativeCodec
{
    [ThreadStatic] private static IsalInflater? t_current;

    private IsalNative.InflateHead* _state = (IsalNative.InflateHead*)NativeMemory.AllocZeroed(IsalNative.InflateStateBytes);

    /// <summary>The calling thread's inflater, or null when libisal2 is not installed.</summary>
    public static IsalInflater? ForCurrentThread => IsalNative.IsAvailable ? t_current ??= new IsalInflater() : null;

    /// <summary>
    /// True when <paramref name="source"/> inflates to at least <paramref name="destination"/>.Length bytes, as
    /// <see cref="RawInflater.TryDecompress"/>; bytes after the end of the stream are ignored.
    /// </summary>
    public bool TryDecompress(ReadOnlySpan<byte> source, Span<byte> destination)
    {
        ThrowIfDisposed();
        IsalNative.InflateInit(_state);
        fixed (byte* src = source)
        fixed (byte* dst = destination)
        {
            _state->NextIn = src;
            _state->AvailIn = (uint)source.Length;
            _state->NextOut = dst;
            _state->AvailOut = (uint)destination.Length;
            int rc = IsalNative.InflateStateless(_state);
            bool filled = _state->TotalOut == (uint)destination.Length;
            _state->NextIn = null;
            _state->NextOut = null;
            return filled && rc is IsalNative.DecompOk or IsalNative.EndInput or IsalNative.OutOverflow;
        }
    }

    protected override void FreeNative()
    {
        NativeMemory.Free(_state);
        _state = null;
    }
}
