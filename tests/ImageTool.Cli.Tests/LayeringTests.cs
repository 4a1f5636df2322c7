using System.Reflection;
using System.Reflection.Emit;
using System.Text.RegularExpressions;

namespace ImageTool.Cli.Tests;

/// <summary>
/// Operations and the CLI ask an image for a capability (ImageTool.Capabilities) and never name a concrete format:
/// no type under ImageTool.Operations or ImageTool.Cli references a type under ImageTool.Formats.&lt;Name&gt;
/// (IImageFormat and the registry in ImageTool.Formats itself are the shared contract and allowed).
/// </summary>
public sealed class LayeringTests
{
    private static readonly Assembly Library = typeof(DiskImage).Assembly;
    private static readonly Assembly Cli = Assembly.Load("img");

    private static readonly Dictionary<ushort, OpCode> OpCodesByValue = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => (ushort)o.Value);

    private static bool IsFormatType(Type type) => type.Namespace?.StartsWith("ImageTool.Formats.", StringComparison.Ordinal) == true;

    private static IEnumerable<Type> LayeredTypes() =>
        Library.GetTypes().Where(t => t.Namespace?.StartsWith("ImageTool.Operations", StringComparison.Ordinal) == true)
            .Concat(Cli.GetTypes().Where(t => t.Namespace?.StartsWith("ImageTool.Cli", StringComparison.Ordinal) == true));

    [Test]
    public void OperationsAndCli_ReferenceNoFormatType_InMetadataOrCode()
    {
        var types = LayeredTypes().ToList();
        Assert.That(types.Select(t => t.Namespace).Distinct(),
            Is.SupersetOf(new[] { "ImageTool.Operations", "ImageTool.Cli", "ImageTool.Cli.Commands" }));
        var violations = types.SelectMany(FormatReferences).Distinct().Order(StringComparer.Ordinal).ToList();
        Assert.That(violations, Is.Empty, "Ask for a capability (ImageTool.Capabilities) instead of naming a format type");
    }

    /// <summary>Constants are inlined into the IL, so their use is found in the sources instead: no using or qualified name of a format namespace.</summary>
    [Test]
    public void OperationsAndCli_NameNoFormatNamespace_InSources()
    {
        string root = RepositoryRoot();
        var formatNamespaces = Library.GetTypes().Where(IsFormatType).Select(t => t.Namespace!["ImageTool.".Length..]).Distinct().ToList();
        Assert.That(formatNamespaces, Does.Contain("Formats.Qcow2"));
        var pattern = new Regex(@"\b(" + string.Join('|', formatNamespaces.Select(Regex.Escape)) + @")\b");
        var sources = Directory.EnumerateFiles(Path.Combine(root, "src/ImageTool/Operations"), "*.cs", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(Path.Combine(root, "src/ImageTool.Cli"), "*.cs", SearchOption.AllDirectories))
            .Where(f => !f.Contains("/obj/", StringComparison.Ordinal) && !f.Contains("/bin/", StringComparison.Ordinal));
        var violations = sources
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (f, line, i)))
            .Where(x => pattern.IsMatch(x.line))
            .Select(x => $"{Path.GetRelativePath(root, x.f)}:{x.i + 1}: {x.line.Trim()}")
            .ToList();
        Assert.That(violations, Is.Empty);
    }

    private static string RepositoryRoot()
    {
        for (string? dir = AppContext.BaseDirectory; dir != null; dir = Path.GetDirectoryName(dir))
            if (File.Exists(Path.Combine(dir, "ImageTool.sln"))) return dir;
        throw new DirectoryNotFoundException("ImageTool.sln not found above the test binaries");
    }

    /// <summary>The scanner itself: it must see what format code references, or the tests above prove nothing.</summary>
    [Test]
    public void Scanner_FindsReferences_InFormatCode()
    {
        var rawFormat = Library.GetType("ImageTool.Formats.Raw.RawFormat", throwOnError: true)!;
        Assert.That(FormatReferences(rawFormat), Has.Some.Contains("ImageTool.Formats.Raw.RawVolumeImage"));
    }

    private static IEnumerable<string> FormatReferences(Type type)
    {
        var seen = new List<(string Where, Type Type)>();
        void Add(string where, Type? t) { if (t != null) seen.Add((where, t)); }

        Add("base type", type.BaseType);
        foreach (var i in type.GetInterfaces()) Add("interface", i);
        const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
        foreach (var f in type.GetFields(all)) Add(f.Name, f.FieldType);
        foreach (var p in type.GetProperties(all)) Add(p.Name, p.PropertyType);
        foreach (var method in type.GetMethods(all).Cast<MethodBase>().Concat(type.GetConstructors(all)))
        {
            if (method is MethodInfo mi) Add(method.Name, mi.ReturnType);
            foreach (var p in method.GetParameters()) Add(method.Name, p.ParameterType);
            var body = method.GetMethodBody();
            if (body == null) continue;
            foreach (var local in body.LocalVariables) Add(method.Name, local.LocalType);
            foreach (var member in ReferencedMembers(method, body.GetILAsByteArray() ?? []))
            {
                switch (member)
                {
                    case Type t: Add(method.Name, t); break;
                    case FieldInfo f: Add(method.Name, f.DeclaringType); Add(method.Name, f.FieldType); break;
                    case MethodBase m:
                        Add(method.Name, m.DeclaringType);
                        if (m is MethodInfo { IsGenericMethod: true } g) foreach (var a in g.GetGenericArguments()) Add(method.Name, a);
                        break;
                }
            }
        }
        return seen.SelectMany(s => Flatten(s.Type).Where(IsFormatType).Select(f => $"{type.FullName}.{s.Where} -> {f.FullName}"));
    }

    /// <summary>The type, its element type and its generic arguments.</summary>
    private static IEnumerable<Type> Flatten(Type type)
    {
        if (type.IsGenericParameter) yield break;
        yield return type;
        if (type.HasElementType)
            foreach (var t in Flatten(type.GetElementType()!)) yield return t;
        if (type.IsGenericType)
            foreach (var t in type.GetGenericArguments().SelectMany(Flatten)) yield return t;
    }

    /// <summary>Every type, field and method token in a method's IL.</summary>
    private static IEnumerable<MemberInfo> ReferencedMembers(MethodBase method, byte[] il)
    {
        var typeArgs = method.DeclaringType is { IsGenericType: true } d ? d.GetGenericArguments() : null;
        var methodArgs = method is MethodInfo { IsGenericMethod: true } ? method.GetGenericArguments() : null;
        for (int at = 0; at < il.Length;)
        {
            ushort value = il[at++];
            if (value == 0xFE) value = (ushort)(0xFE00 | il[at++]);
            var op = OpCodesByValue[value];
            int operand = op.OperandType switch
            {
                OperandType.InlineNone => 0,
                OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar => 1,
                OperandType.InlineVar => 2,
                OperandType.InlineI8 or OperandType.InlineR => 8,
                OperandType.InlineSwitch => 4 + (4 * BitConverter.ToInt32(il, at)),
                _ => 4,
            };
            if (op.OperandType is OperandType.InlineType or OperandType.InlineTok or OperandType.InlineMethod or OperandType.InlineField)
                yield return method.Module.ResolveMember(BitConverter.ToInt32(il, at), typeArgs, methodArgs)!;
            at += operand;
        }
    }
}
