//! The people `forget` and `lookup` are given on standard input: CSV lines of
//! `name,id_number` (a header line with those two names is skipped), or JSON
//! Lines of objects with `name` and `id_number`. The format is read from the
//! first line that is not blank: `{` starts JSON Lines.
//!
//! Plaintext lives here only as [`Pii`] (redacted in every `Debug` and
//! `Display`) and turns into [`Pseudonyms`] at once; an error names a line
//! number, never what the line held.

use crate::identity::Pseudonyms;
use crate::secret::{Pii, Secret};

/// One person as given.
#[derive(Debug, Clone)]
pub struct Person {
    pub name: Pii,
    pub id_number: Pii,
}

impl Person {
    /// The masks and digest a worker stores for this person.
    pub fn pseudonyms(&self, key: &Secret) -> Pseudonyms {
        Pseudonyms::of(key, self.name.expose(), self.id_number.expose())
    }
}

/// Why the input is refused: the lines that are not a person (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("lines {} are not `name,id_number` (CSV) or an object with name and id_number (JSON Lines); nothing was done", numbers(.0))]
pub struct BadLines(pub Vec<usize>);

fn numbers(lines: &[usize]) -> String {
    let shown: Vec<String> = lines.iter().take(20).map(usize::to_string).collect();
    let more = lines.len().saturating_sub(20);
    match more {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// Every person in `text`, or the numbers of the lines that are not one.
pub fn parse(text: &str) -> Result<Vec<Person>, BadLines> {
    let json = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| l.trim_start().starts_with('{'));
    let mut people = Vec::new();
    let mut bad = Vec::new();
    for (at, line) in text.lines().enumerate() {
        let number = at + 1;
        if line.trim().is_empty() {
            continue;
        }
        let person = if json {
            json_person(line)
        } else {
            csv_person(line, people.is_empty() && bad.is_empty())
        };
        match person {
            Ok(Some(person)) => people.push(person),
            Ok(None) => {}
            Err(()) => bad.push(number),
        }
    }
    if bad.is_empty() {
        Ok(people)
    } else {
        Err(BadLines(bad))
    }
}

/// One CSV record of two fields; `None` for the header line (only first).
fn csv_person(line: &str, first: bool) -> Result<Option<Person>, ()> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    let record = reader.records().next().ok_or(())?.map_err(|_| ())?;
    if record.len() != 2 {
        return Err(());
    }
    let (name, id_number) = (record[0].trim(), record[1].trim());
    if first && name.eq_ignore_ascii_case("name") && id_number.eq_ignore_ascii_case("id_number") {
        return Ok(None);
    }
    Ok(Some(Person {
        name: Pii::new(name),
        id_number: Pii::new(id_number),
    }))
}

fn json_person(line: &str) -> Result<Option<Person>, ()> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|_| ())?;
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(Pii::new);
    match (field("name"), field("id_number")) {
        (Some(name), Some(id_number)) => Ok(Some(Person { name, id_number })),
        _ => Err(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(people: &[Person]) -> Vec<&str> {
        people.iter().map(|p| p.id_number.expose()).collect()
    }

    #[test]
    fn csv_with_or_without_a_header_and_json_lines_give_the_same_people() {
        let csv =
            parse("name,id_number\n张三,11010519491231002X\n\n\"Li, Si\",110105194912310021\n")
                .unwrap();
        assert_eq!(ids(&csv), ["11010519491231002X", "110105194912310021"]);
        assert_eq!(csv[1].name.expose(), "Li, Si");
        let bare = parse("张三,11010519491231002X").unwrap();
        assert_eq!(ids(&bare), ["11010519491231002X"]);
        let json = parse("{\"name\":\"张三\",\"id_number\":\"11010519491231002X\"}\n").unwrap();
        assert_eq!(json[0].name.expose(), "张三");
    }

    #[test]
    fn a_bad_line_is_named_by_number_and_never_echoed() {
        let error =
            parse("张三,11010519491231002X\n张三 11010519491231002X\n王五,1,2\n").unwrap_err();
        assert_eq!(error, BadLines(vec![2, 3]));
        let text = error.to_string();
        assert!(
            text.contains("lines 2, 3") && !text.contains("1101"),
            "{text}"
        );
        let json = parse("{\"name\":\"张三\"}\n{\"name\":\"张三\",\"id_number\":7}").unwrap_err();
        assert_eq!(json, BadLines(vec![1, 2]));
        assert!(!format!("{:?}", parse("张三,11010519491231002X")).contains("1101"));
    }
}
