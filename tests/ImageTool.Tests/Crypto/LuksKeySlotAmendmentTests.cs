using ImageTool.Crypto;
using ImageTool.Options;

namespace ImageTool.Tests.Crypto;

/// <summary>LUKS key slot amendment on an in-memory LUKS area: what opens afterwards, and that refusals write nothing.</summary>
public class LuksKeySlotAmendmentTests
{
    private static readonly Dictionary<string, string> Secrets = new() { ["s0"] = "pw0", ["s1"] = "pw1", ["s2"] = "pw2" };

    private sealed class Area
    {
        public readonly byte[] Bytes;
        public readonly LuksHeader Header;
        public readonly byte[] MasterKey;
        public int Writes;

        public Area()
        {
            (Bytes, Header, MasterKey) = LuksVolume.Create("pw0", iterTimeMs: 10);
        }

        public void Amend(string options, bool force = false) =>
            LuksKeySlotAmendment.Parse(new ImageOptions().Parse(options), "encrypt.").Apply(Header, MasterKey, force,
                id => Secrets.TryGetValue(id, out var v) ? v : throw new ImageFormatException($"No secret with id '{id}'"),
                Read, (off, buf) =>
                {
                    Writes++;
                    buf.CopyTo(Bytes.AsSpan((int)off));
                }, () => { });

        public void Read(long off, Span<byte> buf) => Bytes.AsSpan((int)off, buf.Length).CopyTo(buf);

        /// <summary>The header as stored, so the tests see what a later open sees.</summary>
        public LuksHeader Stored => LuksHeader.Read(Bytes);

        public bool Opens(string password)
        {
            try
            {
                return LuksVolume.Unlock(Stored, Read, password).AsSpan().SequenceEqual(MasterKey);
            }
            catch (ImageFormatException) { return false; }
        }
    }

    [Test]
    public void Activate_FirstFreeSlot_OpensWithBothPasswords()
    {
        var area = new Area();
        area.Amend("encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10");
        var stored = area.Stored;
        Assert.That(stored.Slots.Select(s => s.IsActive), Is.EqualTo(new[] { true, true, false, false, false, false, false, false }));
        Assert.That(stored.Slots[1].Iterations, Is.GreaterThanOrEqualTo(1000u));
        Assert.That(stored.Slots[1].Salt, Is.Not.EqualTo(stored.Slots[0].Salt));
        Assert.That((area.Opens("pw0"), area.Opens("pw1"), area.Opens("pw2")), Is.EqualTo((true, true, false)));
        LuksVolume.Validate(stored, area.Bytes.Length);
    }

    [Test]
    public void EraseByPassword_OldPasswordNoLongerOpens_KeyMaterialOverwritten()
    {
        var area = new Area();
        int offset = (int)area.Header.Slots[0].KeyOffsetSectors * LuksHeader.SectorSize;
        byte[] before = area.Bytes.AsSpan(offset, 64 * 4000).ToArray();
        area.Amend("encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=10,encrypt.keyslot=5");
        area.Amend("encrypt.state=inactive,encrypt.old-secret=s0");
        var slot = area.Stored.Slots[0];
        Assert.That((slot.Active, slot.Iterations, slot.Salt.All(b => b == 0)), Is.EqualTo((LuksHeader.SlotDisabled, 0u, true)));
        Assert.That(area.Bytes.AsSpan(offset, 64 * 4000).ToArray(), Is.Not.EqualTo(before));
        Assert.That((area.Opens("pw0"), area.Opens("pw1")), Is.EqualTo((false, true)));
    }

    [Test]
    public void Force_OverwritesActiveSlotAndErasesTheLastOne()
    {
        var area = new Area();
        area.Amend("encrypt.state=active,encrypt.new-secret=s2,encrypt.iter-time=10,encrypt.keyslot=0", force: true);
        Assert.That((area.Opens("pw0"), area.Opens("pw2")), Is.EqualTo((false, true)));
        area.Amend("encrypt.state=inactive,encrypt.keyslot=0", force: true);
        Assert.That(area.Stored.Slots.Any(s => s.IsActive), Is.False);
    }

    [TestCase("encrypt.new-secret=s1", "Parameter 'state' is missing")]
    [TestCase("encrypt.state=on", "Parameter 'state' does not accept value 'on'")]
    [TestCase("encrypt.state=active,encrypt.keyslot=9223372036854775808", "Parameter 'keyslot' expects integer")]
    [TestCase("encrypt.state=active", "'new-secret' is required to activate a keyslot")]
    [TestCase("encrypt.state=active,encrypt.new-secret=s1,encrypt.old-secret=s0", "'old-secret' must not be given when activating keyslots")]
    [TestCase("encrypt.state=active,encrypt.new-secret=s1,encrypt.keyslot=-1", "Invalid keyslot 4294967295 specified, must be between 0 and 7")]
    [TestCase("encrypt.state=active,encrypt.new-secret=s1,encrypt.keyslot=0", "Refusing to overwrite active keyslot 0 - please erase it first")]
    [TestCase("encrypt.state=active,encrypt.new-secret=nope,encrypt.keyslot=1", "No secret with id 'nope'")]
    [TestCase("encrypt.state=inactive", "To erase keyslot(s), either explicit keyslot index or the password currently contained in them must be given")]
    [TestCase("encrypt.state=inactive,encrypt.new-secret=s1", "'new-secret' must not be given when erasing keyslots")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=1,encrypt.iter-time=10", "'iter-time' must not be given when erasing keyslots")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=-1", "Invalid keyslot -1 specified, must be between 0 and 7")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=1", "Given keyslot 1 is already erased (inactive) ")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=0,encrypt.old-secret=s1", "Given keyslot 0 doesn't contain the given old password for erase operation")]
    [TestCase("encrypt.state=inactive,encrypt.keyslot=0",
        "Attempt to erase the only active keyslot 0 which will erase all the data in the image irreversibly - refusing operation")]
    [TestCase("encrypt.state=inactive,encrypt.old-secret=s1", "No keyslots match given (old) password for erase operation")]
    [TestCase("encrypt.state=inactive,encrypt.old-secret=s0",
        "All the active keyslots match the (old) password that was given and erasing them will erase all the data in the image irreversibly - refusing operation")]
    public void Refusal_HasQemusMessage_WritesNothing(string options, string message)
    {
        var area = new Area();
        byte[] before = (byte[])area.Bytes.Clone();
        var e = Assert.Throws<ImageFormatException>(() => area.Amend(options));
        Assert.That(e!.Message, Is.EqualTo(message));
        Assert.That((area.Writes, area.Bytes.SequenceEqual(before)), Is.EqualTo((0, true)));
    }

    [Test]
    public void AllSlotsInUse_RefusesToAdd()
    {
        var area = new Area();
        for (int i = 1; i < LuksHeader.SlotCount; i++) area.Amend("encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=0");
        Assert.That(area.Stored.Slots.Skip(1).All(s => s.IsActive && s.Iterations == 1000), Is.True);
        var e = Assert.Throws<ImageFormatException>(() => area.Amend("encrypt.state=active,encrypt.new-secret=s2"));
        Assert.That(e!.Message, Is.EqualTo("Can't add a keyslot - all keyslots are in use"));
    }

    [Test]
    public void IterTimeBeyondRange_FailsBeforeWriting()
    {
        var area = new Area();
        var e = Assert.Throws<ImageFormatException>(() => area.Amend("encrypt.state=active,encrypt.new-secret=s1,encrypt.iter-time=-1"));
        Assert.That(e!.Message, Does.Match(@"^PBKDF iterations \d+ too large to scale: Numerical result out of range\nFailed to write to keyslot 1$"));
        Assert.That((!e.EndsLine, area.Writes), Is.EqualTo((true, 0)));
    }
}
