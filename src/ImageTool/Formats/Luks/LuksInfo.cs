using ImageTool.Crypto;
using ImageTool.Codecs;
using ImageTool.Info;

namespace ImageTool.Formats.Luks;

/// <summary>qemu's QCryptoBlockInfoLUKS: what info shows of a LUKS header (raw luks and qcow2's "encrypt" member alike).</summary>
internal static class LuksInfo
{
    public static InfoObject Describe(LuksHeader h)
    {
        var slots = h.Slots.Select(s =>
        {
            var o = new InfoObject().Add("active", s.IsActive);
            if (s.IsActive) o.Add("iters", s.Iterations).Add("stripes", s.Stripes);
            return (InfoNode)o.Add("key-offset", (long)s.KeyOffsetSectors * LuksHeader.SectorSize);
        }).ToList();
        var cipher = h.Cipher;
        var info = new InfoObject()
            .Add("cipher-alg", cipher.AlgorithmName)
            .Add("cipher-mode", cipher.Mode)
            .Add("ivgen-alg", cipher.IvGen);
        // qemu reports the IV hash for ESSIV only, though a header may name one for plain64 too.
        if (cipher.IvHash != null && cipher.IvGen == "essiv") info.Add("ivgen-hash-alg", cipher.IvHash);
        return info
            .Add("hash-alg", h.HashSpec)
            .Add("payload-offset", (long)h.PayloadOffsetSectors * LuksHeader.SectorSize)
            .Add("master-key-iters", h.MasterKeyIterations)
            .Add("uuid", h.Uuid)
            .Add("slots", new InfoList(slots));
    }
}
