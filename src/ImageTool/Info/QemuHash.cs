namespace ImageTool.Info;

/// <summary>
/// qemu 7.2 prints QDict members in hash-bucket order: tdb_hash(key) mod 512 (qobject/qdict.c).
/// Matching it is what makes our JSON and human trees byte-identical to qemu-img's.
/// </summary>
internal static class QemuHash
{
    public const int Buckets = 512;

    public static uint Tdb(string key)
    {
        uint value = 0x238F13AFu * (uint)key.Length;
        for (int i = 0; i < key.Length; i++)
            value += (uint)key[i] << (i * 5 % 24);
        return 1103515243u * value + 12345u;
    }

    public static int Bucket(string key) => (int)(Tdb(key) % Buckets);

    /// <summary>Members in the order qemu iterates them. Keys in one bucket come out newest first, as qdict chains them.</summary>
    public static IEnumerable<KeyValuePair<string, InfoNode>> Order(IReadOnlyList<KeyValuePair<string, InfoNode>> members) =>
        members.Select((m, i) => (m, i)).OrderBy(x => Bucket(x.m.Key)).ThenByDescending(x => x.i).Select(x => x.m);
}
