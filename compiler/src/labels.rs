//! The spec's `labels` file: one class name per line, as many as the network has classes.

/// The class names in `text`, or what is wrong with it. Line ends may be `\n` or `\r\n`;
/// one final empty line is allowed; surrounding spaces are trimmed.
pub fn parse(text: &str, classes: usize) -> Result<Vec<String>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
    if names.last().is_some_and(String::is_empty) {
        names.pop();
    }
    if let Some(i) = names.iter().position(String::is_empty) {
        return Err(format!("line {} is empty; write one class name per line, no blank lines", i + 1));
    }
    if names.len() != classes {
        return Err(format!(
            "holds {} names, but the spec has num_classes: {classes}; write one class name per line, in logit order",
            names.len()
        ));
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn names_per_line() {
        assert_eq!(parse("cat\r\ndog\n", 2).unwrap(), ["cat", "dog"]);
        assert_eq!(parse("\u{feff}a b\n  c\t", 2).unwrap(), ["a b", "c"]);
        assert!(parse("cat\n\ndog\n", 2).unwrap_err().contains("line 2 is empty"));
        assert!(parse("cat\ndog\n", 3).unwrap_err().contains("holds 2 names, but the spec has num_classes: 3"));
        assert!(parse("", 1).unwrap_err().contains("holds 0 names"));
    }
}
