use std::path::{Path, PathBuf};

use super::*;
use crate::permissions::shell::sub_commands;

fn check(line: &str, cwd: &Path) -> bool {
    all_read_only(&sub_commands(line).unwrap(), cwd)
}

fn project() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let cwd = std::fs::canonicalize(dir.path()).unwrap().join("project");
    std::fs::create_dir_all(cwd.join("src")).unwrap();
    (dir, cwd)
}

#[test]
fn looking_inside_the_project_is_read_only() {
    let (_dir, cwd) = project();
    for line in [
        "ls -la && git status",
        "ls -la --color=auto src",
        "grep -rn foo src | head -5",
        "grep -rn -e foo -e bar src",
        "rg -n --hidden -g '*.rs' -t rust 'fn main' src",
        "rg --files src",
        "find . -name '*.rs' -type f -maxdepth 3",
        "find src -newer Cargo.toml -print0",
        "sort -u -k2,2 -t, src/data.csv",
        "uniq -c src/data.txt",
        "tree -L 2 -a --gitignore",
        "head -20 src/main.rs",
        "ls src/*",
        "cat src/*.rs",
        "ls *.md",
        "tail -n +5 src/main.rs",
        "wc -l src/*.rs",
        "cat < src/main.rs",
        "git -P log --oneline -10 -- src",
        "git diff --stat HEAD~3..HEAD",
        "git show HEAD:src/main.rs",
        "git branch -a -v",
        "git rev-parse --abbrev-ref HEAD",
        "date +%Y-%m-%d",
        "time ls src",
        "timeout 5 grep -r foo .",
        "command -v cargo",
        "nice -n 5 wc -l src/main.rs",
    ] {
        assert!(check(line, &cwd), "{line}");
    }
    assert!(check(&format!("cat {}/x", cwd.display()), &cwd));
}

/// Options that run a program, write a file or read from elsewhere make
/// a looker ask, as does any option not vetted.
#[test]
fn options_that_run_or_write_are_not_read_only() {
    let (_dir, cwd) = project();
    for line in [
        "rg --pre ./script.sh pattern file",
        "rg --pre=./script.sh pattern",
        "rg --pre-glob '*.txt' x",
        "rg -z pattern",
        "rg --search-zip pattern",
        "rg --hostname-bin ./x pattern",
        "tree -o out.txt .",
        "tree --fromfile list.txt",
        "tree -R -H . -o x",
        "sort -o out.txt in.txt",
        "sort --output=out.txt in.txt",
        "sort --compress-program=./x in.txt",
        "sort -T /tmp in.txt",
        "uniq in.txt out.txt",
        "git -c core.pager=./x log",
        "git -c diff.external=./x diff",
        "git --exec-path=. status",
        "git --git-dir=/tmp/x log",
        "git -C /tmp status",
        "git -p log",
        "git --paginate log",
        "git diff --ext-diff",
        "git diff --textconv",
        "git log --output=log.txt",
        "git log --output log.txt",
        "git branch new-branch",
        "git remote add origin x",
        "git push",
        "git commit -m x",
        "git config core.pager x",
        "find . -exec rm {} ;",
        "find . -execdir ./x ;",
        "find . -ok rm {} ;",
        "find . -delete",
        "find . -fprint out.txt",
        "find . -fls out.txt",
        "find . -name x -fprintf out %p",
        "xargs rm",
        "ls | xargs cat",
        "env rm -rf x",
        "env",
        "nice rm -rf x",
        "timeout 5 rm -rf x",
        "time rm -rf x",
        "command rm -rf x",
        "hostname evil",
        "date -s 2020-01-01",
        "wc --files0-from=list",
        "file -C -m magic",
        "printf -v x y",
        "grep --unknown-option x",
        "ls --totally-new-option",
        "./ls",
        "/usr/bin/rm -rf x",
    ] {
        assert!(!check(line, &cwd), "{line}");
    }
}

#[test]
fn files_outside_the_working_directory_are_not_read_only() {
    let (dir, cwd) = project();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, cwd.join("link")).unwrap();
    for line in [
        "cat /etc/passwd",
        "cat ../secret",
        "cat src/../../secret",
        "cat link/secret",
        "ls link",
        "ls ~",
        "cat ~root/.ssh/id_rsa",
        "ls .*",
        "cat {..,src}/secret",
        "cat < /etc/passwd",
        "cat < link/secret",
        "wc -l < ../secret",
        "grep -f /etc/passwd x",
        "grep -r pattern ..",
        "rg pattern ../",
        "rg --ignore-file /etc/x p",
        "find / -name x",
        "find link",
        "find . -newer /etc/passwd",
        "diff a /etc/passwd",
        "git diff --no-index a /etc/passwd",
        "git log -- ../x",
        "git blame --contents /etc/passwd a",
        "tree ..",
        "timeout 5 cat /etc/passwd",
        "ls link/*",
        "ls *",
        "cat l*",
        "grep -r secret *",
        "ls */x",
        "ls -RL .",
        "find -L . -name x",
        "find . -follow",
        "rg --follow secret",
        "tree -l",
        "du -L .",
        "diff -r a link",
        "file -z archive.gz",
    ] {
        assert!(!check(line, &cwd), "{line}");
    }
}

#[test]
fn thousands_of_wrappers_are_judged_without_recursion() {
    let (_dir, cwd) = project();
    let line = format!("{}ls", "time ".repeat(10_000));
    assert!(check(&line, &cwd));
    let line = format!("{}rm -rf x", "nice ".repeat(10_000));
    assert!(!check(&line, &cwd));
}

#[test]
fn anything_else_is_not() {
    let (_dir, cwd) = project();
    for line in [
        "echo hi > notes.txt",
        "ls && rm -rf build",
        "cat $FILE",
        "FOO=1 ls",
        "LD_PRELOAD=./evil.so ls",
        "npm test",
    ] {
        assert!(!check(line, &cwd), "{line}");
    }
}
