using System.Globalization;
using System.Text;

namespace ImageTool.Options;

/// <summary>
/// qemu's <c>json:{...}</c> file names: a JSON object of block options in place of a path, as qemu writes them into
/// images as backing names. Nested objects flatten to dotted keys (<c>{"file": {"filename": "x"}}</c> is
/// <c>file.filename=x</c>), list items to their index (<c>children.0.filename</c>). Like qemu's parser it takes
/// single-quoted strings too.
/// </summary>
internal static class JsonFileName
{
    public const string Prefix = "json:";

    public static bool Is(string name) => name.StartsWith(Prefix, StringComparison.Ordinal);

    /// <summary>The options a <c>json:</c> name holds; qemu's message when it does not parse as a JSON object.</summary>
    public static ImageOptions Parse(string name)
    {
        var parser = new Parser(name, Prefix.Length);
        var options = new ImageOptions();
        try
        {
            parser.SkipSpace();
            if (parser.Peek() != '{') throw new FormatException();
            parser.Value("", options);
            parser.SkipSpace();
            if (!parser.AtEnd) throw new FormatException();
        }
        catch (FormatException e)
        {
            throw new ImageFormatException($"Could not parse the JSON options", e);
        }
        return options;
    }

    private sealed class Parser(string text, int position)
    {
        private int _i = position;

        public bool AtEnd => _i >= text.Length;

        public char Peek() => _i < text.Length ? text[_i] : '\0';

        public void SkipSpace()
        {
            while (_i < text.Length && char.IsWhiteSpace(text[_i])) _i++;
        }

        private void Expect(char c)
        {
            SkipSpace();
            if (Peek() != c) throw new FormatException();
            _i++;
        }

        /// <summary>Reads one value; scalars are stored under <paramref name="key"/>, containers below it.</summary>
        public void Value(string key, ImageOptions into)
        {
            SkipSpace();
            char c = Peek();
            if (c == '{')
            {
                _i++;
                SkipSpace();
                if (Peek() == '}')
                {
                    _i++;
                    return;
                }
                while (true)
                {
                    SkipSpace();
                    string name = String();
                    Expect(':');
                    Value(key.Length == 0 ? name : $"{key}.{name}", into);
                    SkipSpace();
                    char next = Peek();
                    _i++;
                    if (next == '}') return;
                    if (next != ',') throw new FormatException();
                }
            }
            if (c == '[')
            {
                _i++;
                SkipSpace();
                if (Peek() == ']')
                {
                    _i++;
                    return;
                }
                for (int index = 0; ; index++)
                {
                    Value(string.Create(CultureInfo.InvariantCulture, $"{key}.{index}"), into);
                    SkipSpace();
                    char next = Peek();
                    _i++;
                    if (next == ']') return;
                    if (next != ',') throw new FormatException();
                }
            }
            if (key.Length == 0) throw new FormatException();
            if (c is '"' or '\'') into.Set(key, String());
            else into.SetLiteral(key, Scalar());
        }

        private string Scalar()
        {
            int start = _i;
            while (_i < text.Length && (char.IsAsciiLetterOrDigit(text[_i]) || text[_i] is '-' or '+' or '.')) _i++;
            string word = text[start.._i];
            if (word.Length == 0 || word == "null") throw new FormatException();
            return word;
        }

        private string String()
        {
            char quote = Peek();
            if (quote is not ('"' or '\'')) throw new FormatException();
            _i++;
            var sb = new StringBuilder();
            while (true)
            {
                if (_i >= text.Length) throw new FormatException();
                char c = text[_i++];
                if (c == quote) return sb.ToString();
                if (c != '\\')
                {
                    sb.Append(c);
                    continue;
                }
                if (_i >= text.Length) throw new FormatException();
                char e = text[_i++];
                switch (e)
                {
                    case 'n': sb.Append('\n'); break;
                    case 't': sb.Append('\t'); break;
                    case 'r': sb.Append('\r'); break;
                    case 'b': sb.Append('\b'); break;
                    case 'f': sb.Append('\f'); break;
                    case 'u':
                        if (_i + 4 > text.Length) throw new FormatException();
                        sb.Append((char)int.Parse(text.AsSpan(_i, 4), NumberStyles.HexNumber, CultureInfo.InvariantCulture));
                        _i += 4;
                        break;
                    default: sb.Append(e); break;
                }
            }
        }
    }
}
