using System.Globalization;
using System.Security.Cryptography;
using ImageTool.Options;

namespace ImageTool.Crypto;

/// <summary>
/// qemu's LUKS amend (<c>encrypt.state=active|inactive</c>): activates one key slot with a new password, or erases
/// the slots chosen by index or by the password they hold. Checks and messages in qemu 7.2's order; nothing is written
/// until every check has passed.
/// </summary>
internal sealed record LuksKeySlotAmendment(bool Activate, string? NewSecret, string? OldSecret, int? Keyslot, ulong? IterTimeMs)
{
    /// <summary>qemu overwrites erased key material this many times.</summary>
    private const int ErasePasses = 16;

    /// <summary>
    /// The amendment in the options named <paramref name="prefix"/>* (e.g. "encrypt."), with the errors of qemu's
    /// QAPI visitor, which names the options without the prefix.
    /// </summary>
    public static LuksKeySlotAmendment Parse(ImageOptions options, string prefix)
    {
        bool activate = options.GetString(prefix + "state") switch
        {
            null => throw new ImageFormatException("Parameter 'state' is missing"),
            "active" => true,
            "inactive" => false,
            var v => throw new ImageFormatException($"Parameter 'state' does not accept value '{v}'"),
        };
        long? keyslot = Integer(options, prefix, "keyslot");
        long? iterTime = Integer(options, prefix, "iter-time");
        // qemu keeps the slot index in a C int and the iteration time in an unsigned 64-bit variable.
        return new LuksKeySlotAmendment(activate, options.GetString(prefix + "new-secret"), options.GetString(prefix + "old-secret"),
            keyslot is { } k ? unchecked((int)k) : null, iterTime is { } t ? unchecked((ulong)t) : null);
    }

    /// <summary>A QAPI 'int': the option's text must be a 64-bit signed integer (the option parser already took it as a number).</summary>
    private static long? Integer(ImageOptions options, string prefix, string name)
    {
        if (options.GetString(prefix + name) is not { } text) return null;
        long value = options.GetNumber(prefix + name)!.Value;
        bool negative = text.TrimStart().StartsWith('-');
        if (negative ? value > 0 : value < 0) throw new ImageFormatException($"Parameter '{name}' expects integer");
        return value;
    }

    /// <summary>
    /// Applies the amendment to <paramref name="header"/> (changed in place once written). <paramref name="read"/> and
    /// <paramref name="write"/> address the LUKS area from its start; <paramref name="flush"/> makes the writes so far
    /// durable; <paramref name="secret"/> resolves secret ids.
    /// </summary>
    public void Apply(LuksHeader header, byte[] masterKey, bool force, Func<string, string> secret,
        Action<long, Span<byte>> read, Action<long, ReadOnlySpan<byte>> write, Action flush)
    {
        if (Activate) AddKeySlot(header, masterKey, force, secret, write, flush);
        else EraseKeySlots(header, force, secret, read, write);
    }

    private void AddKeySlot(LuksHeader header, byte[] masterKey, bool force, Func<string, string> secret,
        Action<long, ReadOnlySpan<byte>> write, Action flush)
    {
        if (NewSecret == null) throw new ImageFormatException("'new-secret' is required to activate a keyslot");
        if (OldSecret != null) throw new ImageFormatException("'old-secret' must not be given when activating keyslots");
        int index;
        if (Keyslot is { } k)
        {
            if (k is < 0 or >= LuksHeader.SlotCount)
                throw new ImageFormatException(string.Create(CultureInfo.InvariantCulture,
                    $"Invalid keyslot {unchecked((uint)k)} specified, must be between 0 and {LuksHeader.SlotCount - 1}"));
            index = k;
        }
        else
        {
            index = Array.FindIndex(header.Slots, s => !s.IsActive);
            if (index < 0) throw new ImageFormatException("Can't add a keyslot - all keyslots are in use");
        }
        if (!force && header.Slots[index].IsActive)
            throw new ImageFormatException($"Refusing to overwrite active keyslot {index} - please erase it first");
        string password = secret(NewSecret);
        uint iterations = LuksVolume.SlotIterations(header.HashSpec, (int)header.KeyBytes, IterTimeMs ?? LuksVolume.DefaultIterTimeMs, index);
        var (slot, material) = LuksVolume.SealKeySlot(header, index, masterKey, password, iterations);
        // Key material before the header: a crash in between leaves the slot inactive, never pointing at half a key.
        write((long)slot.KeyOffsetSectors * LuksHeader.SectorSize, material);
        flush();
        header.Slots[index] = slot;
        WriteHeader(header, write);
    }

    private void EraseKeySlots(LuksHeader header, bool force, Func<string, string> secret,
        Action<long, Span<byte>> read, Action<long, ReadOnlySpan<byte>> write)
    {
        if (NewSecret != null) throw new ImageFormatException("'new-secret' must not be given when erasing keyslots");
        if (IterTimeMs != null) throw new ImageFormatException("'iter-time' must not be given when erasing keyslots");
        string? oldPassword = OldSecret == null ? null : secret(OldSecret);
        int active = header.Slots.Count(s => s.IsActive);
        if (Keyslot is { } k)
        {
            if (k is < 0 or >= LuksHeader.SlotCount)
                throw new ImageFormatException($"Invalid keyslot {k} specified, must be between 0 and {LuksHeader.SlotCount - 1}");
            if (oldPassword != null && LuksVolume.TryUnlockSlot(header, k, read, oldPassword) == null)
                throw new ImageFormatException($"Given keyslot {k} doesn't contain the given old password for erase operation");
            if (!force && !header.Slots[k].IsActive) throw new ImageFormatException($"Given keyslot {k} is already erased (inactive) ");
            if (!force && active == 1)
                throw new ImageFormatException(
                    $"Attempt to erase the only active keyslot {k} which will erase all the data in the image irreversibly - refusing operation");
            Erase(header, k, write);
            return;
        }
        if (oldPassword == null)
            throw new ImageFormatException(
                "To erase keyslot(s), either explicit keyslot index or the password currently contained in them must be given");
        var matching = Enumerable.Range(0, LuksHeader.SlotCount).Where(i => LuksVolume.TryUnlockSlot(header, i, read, oldPassword) != null).ToList();
        if (matching.Count == 0) throw new ImageFormatException("No keyslots match given (old) password for erase operation");
        if (!force && matching.Count == active)
            throw new ImageFormatException("All the active keyslots match the (old) password that was given and erasing them " +
                "will erase all the data in the image irreversibly - refusing operation");
        foreach (int i in matching) Erase(header, i, write);
    }

    /// <summary>Header first (the slot stops opening at once), then the old key material drowned in random bytes.</summary>
    private static void Erase(LuksHeader header, int index, Action<long, ReadOnlySpan<byte>> write)
    {
        header.Slots[index] = LuksVolume.ErasedKeySlot(header, index);
        WriteHeader(header, write);
        var slot = header.Slots[index];
        var garbage = new byte[header.KeyBytes * slot.Stripes];
        for (int pass = 0; pass < ErasePasses; pass++)
        {
            RandomNumberGenerator.Fill(garbage);
            write((long)slot.KeyOffsetSectors * LuksHeader.SectorSize, garbage);
        }
    }

    private static void WriteHeader(LuksHeader header, Action<long, ReadOnlySpan<byte>> write)
    {
        var b = new byte[LuksHeader.Size];
        header.Write(b);
        write(0, b);
    }
}
