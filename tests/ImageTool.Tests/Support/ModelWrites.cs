namespace ImageTool.Tests.Support;

/// <summary>One step of a model-based test: the same write (seeded data) or zero-write applied to an image and to a byte-array model.</summary>
public static class ModelWrites
{
    public static void Apply(IBlockDevice image, byte[] model, int offset, int length, bool zero, bool mayDeallocate, int seed)
    {
        if (zero)
        {
            image.WriteZeroes(offset, length, mayDeallocate);
            model.AsSpan(offset, length).Clear();
        }
        else
        {
            var data = SeededData.Bytes(length, seed);
            image.Write(offset, data);
            data.CopyTo(model, offset);
        }
    }
}
