//! `find`: starting points, then an expression of tests. Only tests and
//! printing to standard output are read-only; `-exec`, `-execdir`, `-ok`,
//! `-okdir` (run programs), `-delete`, and `-fprint*`/`-fls` (write files)
//! are not, nor are `-L`/`-follow` (walking out through links), nor
//! anything not listed here.

use std::path::Path;

use super::stays_inside;

/// Tests and actions that take no argument.
const BARE: &[&str] = &[
    "!",
    "(",
    ")",
    ",",
    "-a",
    "-and",
    "-o",
    "-or",
    "-not",
    "-print",
    "-print0",
    "-ls",
    "-prune",
    "-quit",
    "-empty",
    "-readable",
    "-writable",
    "-executable",
    "-depth",
    "-xdev",
    "-mount",
    "-nouser",
    "-nogroup",
    "-true",
    "-false",
    "-daystart",
    "-noleaf",
    "-ignore_readdir_race",
    "-noignore_readdir_race",
];

/// Tests that take one argument naming no file.
const VALUED: &[&str] = &[
    "-name",
    "-iname",
    "-path",
    "-ipath",
    "-wholename",
    "-iwholename",
    "-lname",
    "-ilname",
    "-regex",
    "-iregex",
    "-regextype",
    "-type",
    "-xtype",
    "-maxdepth",
    "-mindepth",
    "-size",
    "-mtime",
    "-mmin",
    "-atime",
    "-amin",
    "-ctime",
    "-cmin",
    "-user",
    "-group",
    "-uid",
    "-gid",
    "-perm",
    "-links",
    "-inum",
    "-printf",
    "-fstype",
    "-used",
];

/// Tests whose argument is a file to look at.
const FILE_VALUED: &[&str] = &["-newer", "-anewer", "-cnewer", "-samefile"];

pub fn read_only(args: &[String], cwd: &Path) -> bool {
    let mut args = args.iter().map(String::as_str).peekable();
    // Options before the starting points.
    while args.next_if(|arg| matches!(*arg, "-H" | "-P")).is_some() {}
    let mut starts = 0;
    while let Some(start) = args.next_if(|arg| !arg.starts_with('-') && !matches!(*arg, "!" | "("))
    {
        if !stays_inside(start, cwd) {
            return false;
        }
        starts += 1;
    }
    if starts == 0 && !stays_inside(".", cwd) {
        return false;
    }
    while let Some(arg) = args.next() {
        if BARE.contains(&arg) {
            continue;
        }
        let Some(value) = args.next() else {
            return false;
        };
        let understood = VALUED.contains(&arg)
            || (FILE_VALUED.contains(&arg) && stays_inside(value, cwd))
            || (arg.starts_with("-newer") && arg.len() == 8 && stays_inside(value, cwd));
        if !understood {
            return false;
        }
    }
    true
}
