//! Aligned text columns for a terminal, as `results` and `batch` print them.
//!
//! Masked names are Chinese: a CJK character takes two terminal cells, so
//! columns are padded by display width, not by character count.

/// The rows under their header (none when `header` is empty), columns
/// separated by two spaces.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    let lines: Vec<&Vec<String>> = std::iter::once(&header)
        .filter(|h| !h.is_empty())
        .chain(rows)
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for line in &lines {
        for (column, cell) in line.iter().enumerate() {
            match widths.get_mut(column) {
                Some(w) => *w = (*w).max(width(cell)),
                None => widths.push(width(cell)),
            }
        }
    }
    let mut out = String::new();
    for row in lines {
        let mut line = String::new();
        for (column, cell) in row.iter().enumerate() {
            let pad = widths[column].saturating_sub(width(cell));
            line.push_str(cell);
            line.push_str(&" ".repeat(pad + 2));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Terminal cells taken by `text`: two for East Asian wide characters, else one.
pub fn width(text: &str) -> usize {
    text.chars().map(|c| if is_wide(c) { 2 } else { 1 }).sum()
}

fn is_wide(c: char) -> bool {
    matches!(c,
        '\u{1100}'..='\u{115F}'
        | '\u{2E80}'..='\u{303E}'
        | '\u{3041}'..='\u{33FF}'
        | '\u{3400}'..='\u{4DBF}'
        | '\u{4E00}'..='\u{9FFF}'
        | '\u{A000}'..='\u{A4CF}'
        | '\u{AC00}'..='\u{D7A3}'
        | '\u{F900}'..='\u{FAFF}'
        | '\u{FE30}'..='\u{FE4F}'
        | '\u{FF00}'..='\u{FF60}'
        | '\u{FFE0}'..='\u{FFE6}'
        | '\u{20000}'..='\u{3FFFD}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up_by_display_width_with_chinese_text() {
        let rows = vec![
            vec!["a".to_string(), "张*".to_string(), "x".to_string()],
            vec!["long-id".to_string(), "欧阳**".to_string(), "y".to_string()],
        ];
        let text = render(&["job_id", "name", "z"], &rows);
        assert_eq!(
            text,
            "job_id   name    z\n\
             a        张*     x\n\
             long-id  欧阳**  y\n"
        );
    }

    #[test]
    fn without_a_header_only_the_rows_are_printed() {
        let rows = vec![
            vec!["done".to_string(), "4".to_string()],
            vec!["enqueued".to_string(), "10".to_string()],
        ];
        assert_eq!(render(&[], &rows), "done      4\nenqueued  10\n");
    }

    #[test]
    fn a_chinese_character_takes_two_cells() {
        assert_eq!(width("张*"), 3);
        assert_eq!(width("abc"), 3);
        assert_eq!(width("１"), 2);
    }
}
