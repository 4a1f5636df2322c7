namespace ImageTool.Crypto;

/// <summary>One <see cref="LuksBlockCipher"/> per thread, all keyed alike; disposes them all.</summary>
internal sealed class PerThreadCipher(string cipher, byte[] key) : IDisposable
{
    private readonly ThreadLocal<LuksBlockCipher> _ciphers = new(() => LuksBlockCipher.Create(cipher, key), trackAllValues: true);

    public LuksBlockCipher Value => _ciphers.Value!;

    public void Dispose()
    {
        foreach (var c in _ciphers.Values) c.Dispose();
        _ciphers.Dispose();
    }
}
