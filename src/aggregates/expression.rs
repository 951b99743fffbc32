//! The operations string of `/v1/aggregates`, e.g.
//! `(aggregate mean (metric (<id> mean) (<id> max)))`, read into a tree.
//!
//! Upstream reads it with pyparsing's `OneOrMore(nestedExpr())` and keeps
//! the first group: words are runs of characters other than parentheses
//! and pyparsing's whitespace (space, tab, newline, carriage return),
//! whatever follows the first group is ignored. Its default grammar also
//! treats quoted strings as words that may hold parentheses; that part is
//! not read here: a string holding a quote is left to upstream's parser,
//! as is anything that is not one balanced group.

/// A word or a parenthesised group of nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Word(String),
    Group(Vec<Node>),
}

/// Why the string is left to upstream's parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unread {
    /// A quote character: pyparsing's quoted-string rules apply.
    Quote,
    /// Not a group where upstream expects one, or unbalanced.
    NotAGroup,
}

/// Nesting past this depth is left to upstream (which recurses too).
const MAX_DEPTH: usize = 256;

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The first group of `text`, as upstream's parser reads it.
pub fn parse(text: &str) -> Result<Node, Unread> {
    if text.contains(['"', '\'']) {
        return Err(Unread::Quote);
    }
    let rest = text.trim_start_matches(is_space);
    if !rest.starts_with('(') {
        return Err(Unread::NotAGroup);
    }
    // A stack of open groups; the words between parentheses.
    let mut open: Vec<Vec<Node>> = Vec::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((start, c)) = chars.next() {
        match c {
            '(' => {
                if open.len() >= MAX_DEPTH {
                    return Err(Unread::NotAGroup);
                }
                open.push(Vec::new());
            }
            ')' => {
                let group = open.pop().ok_or(Unread::NotAGroup)?;
                match open.last_mut() {
                    Some(parent) => parent.push(Node::Group(group)),
                    None => return Ok(Node::Group(group)),
                }
            }
            c if is_space(c) => {}
            _ => {
                let mut end = start + c.len_utf8();
                while let Some(&(i, next)) = chars.peek() {
                    if next == '(' || next == ')' || is_space(next) {
                        break;
                    }
                    end = i + next.len_utf8();
                    chars.next();
                }
                let word = Node::Word(rest[start..end].to_owned());
                open.last_mut().ok_or(Unread::NotAGroup)?.push(word);
            }
        }
    }
    Err(Unread::NotAGroup)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Node {
        Node::Word(s.to_owned())
    }

    #[test]
    fn reads_nested_groups_and_ignores_what_follows() {
        let tree = parse(" \n(aggregate mean (metric (a mean)\t(b max))) (x) y").unwrap();
        assert_eq!(
            tree,
            Node::Group(vec![
                w("aggregate"),
                w("mean"),
                Node::Group(vec![
                    w("metric"),
                    Node::Group(vec![w("a"), w("mean")]),
                    Node::Group(vec![w("b"), w("max")]),
                ]),
            ])
        );
        assert_eq!(parse("(a(b)c)").unwrap(), Node::Group(vec![w("a"), Node::Group(vec![w("b")]), w("c")]));
        assert_eq!(parse("()").unwrap(), Node::Group(vec![]));
        // Only pyparsing's four whitespace characters separate words.
        assert_eq!(parse("(a\u{a0}b\x0bc)").unwrap(), Node::Group(vec![w("a\u{a0}b\x0bc")]));
    }

    #[test]
    fn leaves_the_rest_to_upstream() {
        assert_eq!(parse("(metric \"a b\" mean)"), Err(Unread::Quote));
        assert_eq!(parse("(it's)"), Err(Unread::Quote));
        for text in ["", "  ", "metric", "a (b)", "(a (b)", ")(", "(((("] {
            assert_eq!(parse(text), Err(Unread::NotAGroup), "{text:?}");
        }
        let deep = "(".repeat(MAX_DEPTH + 1) + &")".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(&deep), Err(Unread::NotAGroup));
    }
}
