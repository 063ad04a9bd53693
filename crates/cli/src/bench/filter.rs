//! `--filter`: which rows run.

/// A row filter: comma-separated terms. A term equal to a pattern
/// (`pingpong`, `stream`, `op` or `primitives`) selects that pattern; any
/// other term selects transports whose name or `name/wait` contains it.
/// A row runs if it matches a pattern term (when there are any) and a
/// transport term (when there are any).
#[derive(Debug, Clone)]
pub struct Filter {
    pub(crate) patterns: Vec<String>,
    pub(crate) names: Vec<String>,
}

impl Filter {
    /// Parses `a,b,c`.
    ///
    /// # Errors
    /// An empty filter.
    pub fn parse(text: &str) -> Result<Filter, String> {
        let mut f = Filter { patterns: Vec::new(), names: Vec::new() };
        for term in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            match term {
                "pingpong" | "stream" | "op" => f.patterns.push(term.to_owned()),
                "primitives" => f.patterns.push("op".to_owned()),
                _ => f.names.push(term.to_owned()),
            }
        }
        if f.patterns.is_empty() && f.names.is_empty() {
            return Err("--filter is empty".into());
        }
        Ok(f)
    }

    pub(crate) fn name_matches(&self, name: &str, wait: &str) -> bool {
        let key = format!("{name}/{wait}");
        self.names.is_empty() || self.names.iter().any(|t| name.contains(t.as_str()) || key.contains(t.as_str()))
    }

    pub(crate) fn selects(&self, name: &str, wait: &str, pattern: &str) -> bool {
        (self.patterns.is_empty() || self.patterns.iter().any(|p| p == pattern)) && self.name_matches(name, wait)
    }
}
