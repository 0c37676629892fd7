"""``modelport completion bash|zsh|fish``: a shell completion script, written from the command's own argparse parser
(so it knows every subcommand and flag without a dependency): subcommands, their flags, the choices of flags and
arguments that have them, and file names elsewhere."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping, Sequence

__all__ = ["SHELLS", "completion_script"]

SHELLS = ("bash", "zsh", "fish")


class _Command:
    """What completion needs of one subcommand: its flags, which of them take a value, and the words its
    arguments may be."""

    def __init__(self, name: str, parser: argparse.ArgumentParser, help_text: str, extra: Sequence[str]) -> None:
        self.name, self.help = name, help_text
        self.flags: list[str] = []
        self.valued: dict[str, tuple[str, list[str]]] = {}  # a flag that takes a value: what kind, its choices
        self.words: list[str] = list(extra)
        self.paths = False  # whether an argument is a file
        self.flag_help: dict[str, str] = {}
        for action in parser._actions:
            choices = [str(c) for c in action.choices] if action.choices else []
            if not action.option_strings:
                self.words += choices
                self.paths = self.paths or _kind(action) == "path"
                continue
            self.flags += action.option_strings
            for flag in action.option_strings:
                self.flag_help[flag] = (action.help or "").split("; ")[0]
                if action.nargs != 0:
                    self.valued[flag] = (_kind(action), choices)


def _kind(action: argparse.Action) -> str:
    """What a value of ``action`` is: ``"choice"``, ``"variable"`` (an environment variable's name), ``"path"``, or
    ``"text"`` (nothing to complete)."""
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    if action.choices:
        return "choice"
    if metavar == "NAME":
        return "variable"
    if any(part in metavar for part in ("FILE", "DIR", ".json")) or action.dest in ("config", "target"):
        return "path"
    return "text"


# File names one a line, each a word as it is (not split at spaces, nor taken as a pattern: a name may hold either)
_BASH_FILES = (
    'compopt -o filenames 2>/dev/null; while IFS= read -r word; do COMPREPLY+=("$word"); done < <(compgen -f -- "$cur")'
)
_BASH_VALUE = {
    "choice": 'COMPREPLY=($(compgen -W {words} -- "$cur"))',
    "variable": 'COMPREPLY=($(compgen -v -- "$cur"))',
    "path": "COMPREPLY=(); " + _BASH_FILES,
    "text": "COMPREPLY=()",
}


def _commands(parser: argparse.ArgumentParser, extra: Mapping[str, Sequence[str]]) -> list[_Command]:
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help or "" for choice in sub._choices_actions}
    return [_Command(name, p, helps.get(name, ""), extra.get(name, ())) for name, p in sub.choices.items()]


def completion_script(
    shell: str, parser: argparse.ArgumentParser, extra: Mapping[str, Sequence[str]] | None = None
) -> str:
    """The completion script of ``shell`` for ``parser``'s command; ``extra``: more words a subcommand's
    arguments may be (``merge`` for ``batch``)."""
    commands = _commands(parser, extra or {})
    prog = parser.prog
    if shell == "fish":
        return _fish(prog, commands)
    script = _bash(prog, commands)
    if shell == "zsh":  # zsh runs the bash function through its bash-completion layer
        return f"autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n{script}"
    return script


def _words(words: Sequence[str]) -> str:
    return shlex.quote(" ".join(words))


def _bash(prog: str, commands: list[_Command]) -> str:
    function = "_" + prog.replace("-", "_")
    cases = []
    for command in commands:
        valued = [
            f"            {flag}) {_BASH_VALUE[kind].format(words=_words(choices))}; return ;;"
            for flag, (kind, choices) in command.valued.items()
        ]
        paths = "\n                " + _BASH_FILES
        cases.append(
            f"        {command.name})\n"
            f'            case "$prev" in\n' + "\n".join(valued) + "\n            esac\n"
            f'            if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W {_words(command.flags)} -- "$cur"))\n'
            f'            else COMPREPLY=($(compgen -W {_words(command.words)} -- "$cur"))'
            + (paths if command.paths else "")
            + "\n            fi ;;"
        )
    names = [c.name for c in commands]
    return f"""# {prog} completion for bash: eval "$({prog} completion bash)" (or save it in ~/.bash_completion)
{function}() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}" command="" i word
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in -*) ;; *) command="${{COMP_WORDS[i]}}"; break ;; esac
    done
    if [[ -z $command ]]; then
        COMPREPLY=($(compgen -W {_words([*names, "--help", "--version"])} -- "$cur"))
        return
    fi
    case "$command" in
{chr(10).join(cases)}
    esac
}}
complete -F {function} {prog}
"""


def _fish(prog: str, commands: list[_Command]) -> str:
    names = " ".join(c.name for c in commands)
    lines = [
        f"# {prog} completion for fish: {prog} completion fish > ~/.config/fish/completions/{prog}.fish",
        f"complete -c {prog} -e",
        f"complete -c {prog} -n 'not __fish_seen_subcommand_from {names}' -f",
    ]
    for command in commands:
        lines.append(
            f"complete -c {prog} -n 'not __fish_seen_subcommand_from {names}' -a {command.name} "
            f"-d {shlex.quote(command.help)}"
        )
        seen = f"-n '__fish_seen_subcommand_from {command.name}'"
        if command.words:
            lines.append(f"complete -c {prog} {seen} -a {_words(command.words)}")
        for flag in command.flags:
            option = f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}"
            value = ""
            if flag in command.valued:
                kind, choices = command.valued[flag]
                value = {
                    "choice": f" -x -a {_words(choices)}",
                    "variable": " -x -a '(set --names --export)'",
                    "path": " -r -F",
                    "text": " -x",
                }[kind]
            lines.append(f"complete -c {prog} {seen} {option}{value} -d {shlex.quote(command.flag_help[flag])}")
    return "\n".join(lines) + "\n"
