using ImageTool.Options;

namespace ImageTool.Capabilities;

/// <summary>A format whose images can be amended (<see cref="IAmendable"/>): the options <c>img amend</c> takes for it.</summary>
internal interface IAmendableFormat
{
    /// <summary>The amend options, in qemu's help order.</summary>
    IReadOnlyList<OptionSpec> AmendOptions { get; }
}
