//! A streaming reader of Terraform state files. It checks that the bytes form one JSON object
//! and picks out what Terrace records about a state version, the header fields (`version`,
//! `serial`, `lineage`, `terraform_version`), the raw `outputs` object and a summary of
//! `resources`, while holding only what it keeps: a 100 MB state passes through in chunks.

use terrace_storage::model::{InstanceKey, ResourceSummary};
use thiserror::Error;

/// Deepest nesting accepted; real states stay far below it, and it bounds memory.
const MAX_DEPTH: usize = 512;
/// The raw `outputs` object is kept for parsing afterwards, up to this size.
const MAX_OUTPUTS: usize = 64 << 20;
/// Captured strings (lineage, resource names, ...) longer than this are ignored.
const MAX_STRING: usize = 4096;
/// Resource blocks listed individually; beyond this only the count goes on, so memory does
/// not grow with the number of resources.
pub const MAX_LISTED_RESOURCES: usize = 10_000;
/// Instance keys kept across the whole state, and the bytes of their string keys; beyond
/// either, later instances are counted but their keys not kept.
pub const MAX_LISTED_INSTANCES: usize = 100_000;
const MAX_INSTANCE_KEY_BYTES: usize = 1 << 20;

#[derive(Debug, Error, PartialEq, Eq)]
#[error("not a valid state file: {reason} (at byte {offset})")]
pub struct ScanError {
    pub reason: &'static str,
    pub offset: u64,
}

/// What a scan found.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ScannedState {
    pub version: Option<u64>,
    pub serial: Option<i64>,
    /// Byte range of the serial's digits, so it can be rewritten in place (rollback).
    pub serial_span: Option<(u64, u64)>,
    pub lineage: Option<String>,
    pub terraform_version: Option<String>,
    /// The `outputs` value as raw JSON; `None` if absent or larger than the limit.
    pub outputs_json: Option<Vec<u8>>,
    /// The first [`MAX_LISTED_RESOURCES`] resource blocks.
    pub resources: Vec<ResourceSummary>,
    /// Managed resource blocks in the whole state.
    pub managed_resources: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Key {
    Version,
    Serial,
    Lineage,
    TerraformVersion,
    Outputs,
    Resources,
    Mode,
    Type,
    Name,
    Module,
    Provider,
    Instances,
    /// `index_key`
    Index,
    Other,
}

impl Key {
    fn of(raw: &[u8]) -> Key {
        match raw {
            b"version" => Key::Version,
            b"serial" => Key::Serial,
            b"lineage" => Key::Lineage,
            b"terraform_version" => Key::TerraformVersion,
            b"outputs" => Key::Outputs,
            b"resources" => Key::Resources,
            b"mode" => Key::Mode,
            b"type" => Key::Type,
            b"name" => Key::Name,
            b"module" => Key::Module,
            b"provider" => Key::Provider,
            b"instances" => Key::Instances,
            b"index_key" => Key::Index,
            _ => Key::Other,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Value,
    /// Right after `[`: a value or `]`.
    ValueOrClose,
    /// Right after `{`: a key or `}`.
    KeyOrClose,
    Key,
    Colon,
    CommaOrClose,
    /// The top-level value is complete; only whitespace may follow.
    Nothing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    Object(Key),
    Array,
}

/// Where a scalar being read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    None,
    Version,
    Serial,
    Lineage,
    TerraformVersion,
    Resource(Key),
    /// The `index_key` of the current resource's last instance.
    InstanceKey,
}

#[derive(Debug)]
enum Lex {
    Between,
    Str {
        escape: bool,
        is_key: bool,
    },
    Number,
    Literal {
        expected: &'static [u8],
        matched: usize,
    },
}

pub struct StateScanner {
    offset: u64,
    stack: Vec<Frame>,
    expect: Expect,
    lex: Lex,
    /// Bytes of the key or scalar being read, when it is worth keeping.
    token: Vec<u8>,
    keep_token: bool,
    target: Target,
    /// Raw capture of the `outputs` value: the bytes and the stack depth it started at.
    outputs: Option<(Vec<u8>, usize)>,
    outputs_overflow: bool,
    resource: Option<ResourceSummary>,
    /// Instance keys kept so far, and the bytes of the string ones.
    kept_instances: usize,
    kept_key_bytes: usize,
    found: ScannedState,
}

impl Default for StateScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl StateScanner {
    pub fn new() -> StateScanner {
        StateScanner {
            offset: 0,
            stack: Vec::new(),
            expect: Expect::Value,
            lex: Lex::Between,
            token: Vec::new(),
            keep_token: false,
            target: Target::None,
            outputs: None,
            outputs_overflow: false,
            resource: None,
            kept_instances: 0,
            kept_key_bytes: 0,
            found: ScannedState::default(),
        }
    }

    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), ScanError> {
        while let Some((&byte, rest)) = data.split_first() {
            // Fast paths, a run at a time: the inside of a string (most of a state) up to its
            // next quote, backslash or control character, and whitespace between tokens.
            let run = match self.lex {
                Lex::Str { escape: false, .. } => string_run(data),
                Lex::Between => data
                    .iter()
                    .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
                    .unwrap_or(data.len()),
                _ => 0,
            };
            if run > 0 {
                let (taken, rest) = data.split_at(run);
                self.capture(taken);
                if let Lex::Str { .. } = self.lex {
                    self.push_token_run(taken);
                }
                self.offset += run as u64;
                data = rest;
                continue;
            }
            self.capture(std::slice::from_ref(&byte));
            self.step(byte)?;
            self.offset += 1;
            data = rest;
        }
        Ok(())
    }

    /// Adds `bytes` to the raw `outputs` being captured, if any.
    fn capture(&mut self, bytes: &[u8]) {
        if let Some((raw, _)) = &mut self.outputs {
            raw.extend_from_slice(bytes);
            if raw.len() > MAX_OUTPUTS {
                self.outputs = None;
                self.outputs_overflow = true;
            }
        }
    }

    /// What the scan has found so far.
    pub fn found(&self) -> &ScannedState {
        &self.found
    }

    pub fn finish(mut self) -> Result<ScannedState, ScanError> {
        if let Lex::Number = self.lex {
            self.end_number()?;
        }
        if !matches!(self.lex, Lex::Between) || self.expect != Expect::Nothing {
            return Err(self.error("unexpected end of data"));
        }
        Ok(self.found)
    }

    fn error(&self, reason: &'static str) -> ScanError {
        ScanError {
            reason,
            offset: self.offset,
        }
    }

    fn step(&mut self, byte: u8) -> Result<(), ScanError> {
        match &mut self.lex {
            Lex::Str { escape, is_key } => {
                if *escape {
                    if !b"\"\\/bfnrtu".contains(&byte) {
                        return Err(self.error("invalid escape in string"));
                    }
                    *escape = false;
                } else if byte == b'\\' {
                    *escape = true;
                } else if byte == b'"' {
                    let is_key = *is_key;
                    self.lex = Lex::Between;
                    return if is_key {
                        self.end_key()
                    } else {
                        self.end_scalar()
                    };
                } else if byte < 0x20 {
                    return Err(self.error("control character in string"));
                }
                self.push_token(byte);
                Ok(())
            }
            Lex::Number => {
                if byte.is_ascii_digit() || b"+-.eE".contains(&byte) {
                    self.push_token(byte);
                    Ok(())
                } else {
                    self.end_number()?;
                    self.step(byte)
                }
            }
            Lex::Literal { expected, matched } => {
                if expected.get(*matched) != Some(&byte) {
                    return Err(self.error("invalid literal"));
                }
                *matched += 1;
                if *matched == expected.len() {
                    self.lex = Lex::Between;
                    self.value_done();
                }
                Ok(())
            }
            Lex::Between => self.between(byte),
        }
    }

    fn between(&mut self, byte: u8) -> Result<(), ScanError> {
        if matches!(byte, b' ' | b'\t' | b'\n' | b'\r') {
            return Ok(());
        }
        match (self.expect, byte) {
            (Expect::Value | Expect::ValueOrClose, _) if byte != b']' => self.start_value(byte),
            (Expect::ValueOrClose | Expect::CommaOrClose, b']')
                if self.stack.last() == Some(&Frame::Array) =>
            {
                self.close()
            }
            (Expect::KeyOrClose | Expect::CommaOrClose, b'}')
                if matches!(self.stack.last(), Some(Frame::Object(_))) =>
            {
                self.close()
            }
            (Expect::KeyOrClose | Expect::Key, b'"') => {
                self.begin_token(true);
                self.lex = Lex::Str {
                    escape: false,
                    is_key: true,
                };
                Ok(())
            }
            (Expect::Colon, b':') => {
                self.expect = Expect::Value;
                Ok(())
            }
            (Expect::CommaOrClose, b',') => {
                self.expect = match self.stack.last() {
                    Some(Frame::Array) => Expect::Value,
                    _ => Expect::Key,
                };
                Ok(())
            }
            (Expect::Nothing, _) => Err(self.error("data after the end of the state")),
            _ => Err(self.error("unexpected character")),
        }
    }

    /// The value that starts with `byte`, in the context of the stack.
    fn start_value(&mut self, byte: u8) -> Result<(), ScanError> {
        if self.stack.is_empty() && byte != b'{' {
            return Err(self.error("a state must be a JSON object"));
        }
        let depth = self.stack.len();
        let root_key = match self.stack.as_slice() {
            [Frame::Object(key)] => Some(*key),
            _ => None,
        };
        if root_key == Some(Key::Outputs) && self.outputs.is_none() && !self.outputs_overflow {
            self.outputs = Some((vec![byte], depth));
        }
        self.target = match (root_key, self.resource_field()) {
            (Some(Key::Version), _) => Target::Version,
            (Some(Key::Serial), _) => Target::Serial,
            (Some(Key::Lineage), _) => Target::Lineage,
            (Some(Key::TerraformVersion), _) => Target::TerraformVersion,
            (_, Some(key)) => Target::Resource(key),
            _ if self.in_instance_key() => Target::InstanceKey,
            _ => Target::None,
        };
        if self.in_instances() {
            if let Some(resource) = &mut self.resource {
                resource.count += 1;
                // Kept only while every earlier instance's key was: the list stays a
                // prefix of the instances.
                if self.kept_instances < MAX_LISTED_INSTANCES
                    && keys(resource).len() as u64 + 1 == resource.count
                {
                    keys(resource).push(None);
                    self.kept_instances += 1;
                }
            }
        }
        match byte {
            b'{' | b'[' => {
                if self.is_resource_element() && byte == b'{' {
                    self.resource = Some(ResourceSummary {
                        mode: String::new(),
                        kind: String::new(),
                        name: String::new(),
                        module: "root".into(),
                        provider: String::new(),
                        count: 0,
                        instance_keys: Some(Vec::new()),
                    });
                }
                if depth >= MAX_DEPTH {
                    return Err(self.error("nesting too deep"));
                }
                if byte == b'{' {
                    self.stack.push(Frame::Object(Key::Other));
                    self.expect = Expect::KeyOrClose;
                } else {
                    self.stack.push(Frame::Array);
                    self.expect = Expect::ValueOrClose;
                }
                Ok(())
            }
            b'"' => {
                self.begin_token(false);
                self.lex = Lex::Str {
                    escape: false,
                    is_key: false,
                };
                Ok(())
            }
            b'-' | b'0'..=b'9' => {
                self.begin_token(false);
                self.push_token(byte);
                self.lex = Lex::Number;
                Ok(())
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            _ => Err(self.error("unexpected character")),
        }
    }

    fn literal(&mut self, expected: &'static [u8]) -> Result<(), ScanError> {
        self.lex = Lex::Literal {
            expected,
            matched: 1,
        };
        Ok(())
    }

    fn close(&mut self) -> Result<(), ScanError> {
        let closing_resource = self.stack.len() == 3 && self.is_resource_element_frame();
        self.stack.pop();
        if closing_resource {
            if let Some(resource) = self.resource.take() {
                if resource.mode == "managed" {
                    self.found.managed_resources += 1;
                }
                if self.found.resources.len() < MAX_LISTED_RESOURCES {
                    self.found.resources.push(resource);
                }
            }
        }
        self.value_done();
        Ok(())
    }

    /// A value just ended: update what the enclosing container expects next.
    fn value_done(&mut self) {
        if let Some((raw, depth)) = &self.outputs {
            if self.stack.len() == *depth {
                self.found.outputs_json = Some(raw.clone());
                self.outputs = None;
                self.outputs_overflow = true; // only the first `outputs` counts
            }
        }
        self.target = Target::None;
        self.expect = if self.stack.is_empty() {
            Expect::Nothing
        } else {
            Expect::CommaOrClose
        };
    }

    fn begin_token(&mut self, is_key: bool) {
        self.token.clear();
        self.keep_token = is_key || self.target != Target::None;
    }

    /// [`push_token`](Self::push_token) for a run of plain string bytes.
    fn push_token_run(&mut self, bytes: &[u8]) {
        if self.keep_token {
            if self.token.len() + bytes.len() <= MAX_STRING {
                self.token.extend_from_slice(bytes);
            } else {
                self.keep_token = false;
            }
        }
    }

    fn push_token(&mut self, byte: u8) {
        if self.keep_token {
            if self.token.len() < MAX_STRING {
                self.token.push(byte);
            } else {
                self.keep_token = false;
            }
        }
    }

    fn end_key(&mut self) -> Result<(), ScanError> {
        let key = if self.keep_token {
            Key::of(&self.token)
        } else {
            Key::Other
        };
        if let Some(Frame::Object(current)) = self.stack.last_mut() {
            *current = key;
        }
        self.expect = Expect::Colon;
        Ok(())
    }

    fn end_number(&mut self) -> Result<(), ScanError> {
        self.lex = Lex::Between;
        match self.target {
            Target::Serial if self.keep_token => {
                let text = std::str::from_utf8(&self.token).unwrap_or_default();
                self.found.serial = Some(
                    text.parse()
                        .map_err(|_| self.error("serial is not an integer"))?,
                );
                self.found.serial_span = Some((self.offset - self.token.len() as u64, self.offset));
            }
            Target::Version if self.keep_token => {
                let text = std::str::from_utf8(&self.token).unwrap_or_default();
                self.found.version = text.parse().ok();
            }
            Target::InstanceKey if self.keep_token => {
                let text = std::str::from_utf8(&self.token).unwrap_or_default();
                // A count index is a whole number; anything else is not a key Terraform writes.
                match text.parse() {
                    Ok(index) => self.set_instance_key(InstanceKey::Index(index)),
                    Err(_) => self.stop_keeping_instances(),
                }
            }
            Target::InstanceKey => self.stop_keeping_instances(),
            _ => {}
        }
        self.value_done();
        Ok(())
    }

    fn end_scalar(&mut self) -> Result<(), ScanError> {
        if self.keep_token && self.target != Target::None {
            // Decode escapes by letting serde_json read the string literal.
            let mut literal = Vec::with_capacity(self.token.len() + 2);
            literal.push(b'"');
            literal.extend_from_slice(&self.token);
            literal.push(b'"');
            let text: String = serde_json::from_slice(&literal)
                .map_err(|_| self.error("invalid escape in string"))?;
            match (self.target, &mut self.resource) {
                (Target::Lineage, _) => self.found.lineage = Some(text),
                (Target::TerraformVersion, _) => self.found.terraform_version = Some(text),
                (Target::InstanceKey, _) => self.set_instance_key(InstanceKey::Key(text)),
                (Target::Resource(field), Some(resource)) => match field {
                    Key::Mode => resource.mode = text,
                    Key::Type => resource.kind = text,
                    Key::Name => resource.name = text,
                    Key::Module => resource.module = text,
                    Key::Provider => resource.provider = text,
                    _ => {}
                },
                _ => {}
            }
        } else if self.target == Target::InstanceKey {
            // Longer than a captured string may be: not kept, so neither is the instance.
            self.stop_keeping_instances();
        }
        self.value_done();
        Ok(())
    }

    /// Records the key of the current resource's last instance, if that instance is kept and
    /// the key fits the budget; a key that does not fit ends the keeping of keys.
    fn set_instance_key(&mut self, key: InstanceKey) {
        let Some(resource) = &mut self.resource else {
            return;
        };
        if keys(resource).len() as u64 != resource.count {
            return;
        }
        let bytes = match &key {
            InstanceKey::Key(text) => text.len(),
            InstanceKey::Index(_) => 0,
        };
        if self.kept_key_bytes + bytes > MAX_INSTANCE_KEY_BYTES {
            self.stop_keeping_instances();
            return;
        }
        self.kept_key_bytes += bytes;
        if let Some(last) = keys(resource).last_mut() {
            *last = Some(key);
        }
    }

    /// Forgets the current instance's placeholder and keeps no further instance keys, so the
    /// kept keys stay a true prefix of the instances.
    fn stop_keeping_instances(&mut self) {
        if let Some(resource) = &mut self.resource {
            if keys(resource).len() as u64 == resource.count {
                keys(resource).pop();
            }
        }
        self.kept_instances = MAX_LISTED_INSTANCES;
    }

    /// The stack is `{resources: [{instances: [{index_key:` — a value here is an instance's key.
    fn in_instance_key(&self) -> bool {
        matches!(
            self.stack.as_slice(),
            [
                Frame::Object(Key::Resources),
                Frame::Array,
                Frame::Object(Key::Instances),
                Frame::Array,
                Frame::Object(Key::Index)
            ]
        )
    }

    /// The stack is `{resources: [` — a value here is one resource.
    fn is_resource_element(&self) -> bool {
        matches!(
            self.stack.as_slice(),
            [Frame::Object(Key::Resources), Frame::Array]
        )
    }

    /// The innermost frame is a resource object.
    fn is_resource_element_frame(&self) -> bool {
        matches!(
            self.stack.as_slice(),
            [
                Frame::Object(Key::Resources),
                Frame::Array,
                Frame::Object(_)
            ]
        )
    }

    /// The field of a resource whose value is about to start, if any.
    fn resource_field(&self) -> Option<Key> {
        match self.stack.as_slice() {
            [Frame::Object(Key::Resources), Frame::Array, Frame::Object(key)]
                if !matches!(key, Key::Other | Key::Instances | Key::Index) =>
            {
                Some(*key)
            }
            _ => None,
        }
    }

    /// The stack is `{resources: [{instances: [` — a value here is one instance.
    fn in_instances(&self) -> bool {
        matches!(
            self.stack.as_slice(),
            [
                Frame::Object(Key::Resources),
                Frame::Array,
                Frame::Object(Key::Instances),
                Frame::Array
            ]
        )
    }
}

/// How many bytes at the start of `data` are plain string content: no quote, backslash or
/// control character. Checks 16 bytes at a time (which the compiler turns into vector
/// compares), then byte by byte.
fn string_run(data: &[u8]) -> usize {
    let special = |b: u8| b == b'"' || b == b'\\' || b < 0x20;
    let mut at = 0;
    for block in data.chunks_exact(16) {
        if block.iter().fold(false, |found, &b| found | special(b)) {
            break;
        }
        at += 16;
    }
    at + data[at..]
        .iter()
        .position(|&b| special(b))
        .unwrap_or(data.len() - at)
}

/// The instance keys a scan keeps for `resource` (always recorded by a scan).
fn keys(resource: &mut ResourceSummary) -> &mut Vec<Option<InstanceKey>> {
    resource.instance_keys.get_or_insert_with(Vec::new)
}

/// Scans a whole state held in memory.
pub fn scan(data: &[u8]) -> Result<ScannedState, ScanError> {
    let mut scanner = StateScanner::new();
    scanner.feed(data)?;
    scanner.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = r#"{
  "version": 4,
  "terraform_version": "1.11.4",
  "serial": 12,
  "lineage": "24ffe236-bd07-106a-a121-2a88ddc1b9e1",
  "outputs": {"greeting": {"value": "hello", "type": "string"},
              "nums": {"value": [1, 2.5e3, -3], "type": ["list", "number"], "sensitive": true}},
  "resources": [
    {"mode": "managed", "type": "terraform_data", "name": "example",
     "provider": "provider[\"terraform.io/builtin/terraform\"]",
     "instances": [{"schema_version": 0, "attributes": {"id": "a", "nested": [[{}], {"k": null}]}},
                   {"index_key": 1, "attributes": {"mode": "trap", "type": "trap"}}]},
    {"module": "module.net", "mode": "data", "type": "terraform_remote_state", "name": "vpc",
     "provider": "provider[\"terraform.io/builtin/terraform\"]", "instances": []}
  ],
  "check_results": null
}"#;

    #[test]
    fn reads_header_outputs_and_resources() {
        let found = scan(FIXTURE.as_bytes()).unwrap();
        assert_eq!(found.version, Some(4));
        assert_eq!(found.serial, Some(12));
        let (start, end) = found.serial_span.unwrap();
        assert_eq!(&FIXTURE.as_bytes()[start as usize..end as usize], b"12");
        assert_eq!(
            found.lineage.as_deref(),
            Some("24ffe236-bd07-106a-a121-2a88ddc1b9e1")
        );
        assert_eq!(found.terraform_version.as_deref(), Some("1.11.4"));
        let outputs: serde_json::Value =
            serde_json::from_slice(&found.outputs_json.unwrap()).unwrap();
        assert_eq!(outputs["nums"]["value"][1], serde_json::json!(2500.0));
        assert_eq!(found.resources.len(), 2);
        assert_eq!(found.managed_resources, 1, "the data source is not managed");
        let first = &found.resources[0];
        assert_eq!(
            (
                first.mode.as_str(),
                first.kind.as_str(),
                first.name.as_str(),
                first.module.as_str()
            ),
            ("managed", "terraform_data", "example", "root")
        );
        assert_eq!(
            first.provider,
            "provider[\"terraform.io/builtin/terraform\"]"
        );
        assert_eq!(
            first.count, 2,
            "nested attribute keys must not be mistaken for fields"
        );
        assert_eq!(
            first.instance_keys,
            Some(vec![None, Some(InstanceKey::Index(1))]),
            "one key per instance, a key only where the state has one"
        );
        assert_eq!(found.resources[1].module, "module.net");
        assert_eq!(found.resources[1].count, 0);
        assert_eq!(found.resources[1].instance_keys, Some(vec![]));
    }

    #[test]
    fn reads_for_each_keys_and_keeps_only_a_true_prefix() {
        let long = "k".repeat(MAX_STRING + 1);
        let state = format!(
            r#"{{"version":4,"serial":1,"resources":[
              {{"mode":"managed","type":"t","name":"a","instances":[
                {{"index_key":"x\"y","attributes":{{"index_key":"nested"}}}},{{"index_key":"{long}"}},{{"index_key":"z"}}]}},
              {{"mode":"managed","type":"t","name":"b","instances":[{{"index_key":0}}]}}]}}"#
        );
        let found = scan(state.as_bytes()).unwrap();
        let a = &found.resources[0];
        assert_eq!(a.count, 3);
        assert_eq!(
            a.instance_keys,
            Some(vec![Some(InstanceKey::Key("x\"y".into()))]),
            "a key too long to keep ends the keeping: no instance is listed under a wrong key"
        );
        assert_eq!(found.resources[1].count, 1);
        assert_eq!(
            found.resources[1].instance_keys,
            Some(vec![]),
            "recorded, but none kept: not to be mistaken for a summary without keys"
        );
    }

    #[test]
    fn resource_listing_is_bounded_but_the_count_is_exact() {
        let n = MAX_LISTED_RESOURCES + 5;
        let resources: Vec<String> = (0..n)
            .map(|i| format!("{{\"mode\":\"managed\",\"type\":\"t\",\"name\":\"r{i}\",\"instances\":[{{}}]}}"))
            .collect();
        let state = format!(
            "{{\"version\":4,\"serial\":1,\"resources\":[{}]}}",
            resources.join(",")
        );
        let found = scan(state.as_bytes()).unwrap();
        assert_eq!(found.resources.len(), MAX_LISTED_RESOURCES);
        assert_eq!(found.managed_resources, n as u64);
    }

    #[test]
    fn chunking_does_not_matter() {
        let whole = scan(FIXTURE.as_bytes()).unwrap();
        for size in [1, 2, 3, 7, 64] {
            let mut scanner = StateScanner::new();
            for chunk in FIXTURE.as_bytes().chunks(size) {
                scanner.feed(chunk).unwrap();
            }
            assert_eq!(scanner.finish().unwrap(), whole, "chunk size {size}");
        }
    }

    #[test]
    fn long_strings_escapes_and_whitespace_scan_alike_in_any_split() {
        let payload: String = (0..500).map(|i| format!("{i:08x}")).collect();
        let state = format!(
            "{{\n  \"version\": 4,\n  \"serial\": 3,\n  \"lineage\": \"l\\u00e9\\\"x\",\n  \"outputs\": {{\"o\": {{\"value\": \"{payload}\\n\\\\{payload}\", \"type\": \"string\"}}}},\n  \"resources\": [\n    {{\"mode\": \"managed\", \"type\": \"t\", \"name\": \"{long}\",\n     \"instances\": [{{\"attributes\": {{\"p\": \"{payload}\"}}}}]}}\n  ]\n}}\n",
            long = "n".repeat(MAX_STRING + 3)
        );
        let whole = scan(state.as_bytes()).unwrap();
        assert_eq!(whole.lineage.as_deref(), Some("l\u{e9}\"x"));
        let outputs: serde_json::Value =
            serde_json::from_slice(whole.outputs_json.as_ref().unwrap()).unwrap();
        assert_eq!(
            outputs["o"]["value"],
            serde_json::json!(format!("{payload}\n\\{payload}"))
        );
        assert_eq!(whole.resources[0].name, "", "too long to keep");
        assert_eq!(whole.managed_resources, 1);
        for size in [1, 5, 16, 17, 1000] {
            let mut scanner = StateScanner::new();
            for chunk in state.as_bytes().chunks(size) {
                scanner.feed(chunk).unwrap();
            }
            assert_eq!(scanner.finish().unwrap(), whole, "chunk size {size}");
        }
        // A control character inside a long string is still refused, wherever it falls.
        for at in [20, 100, 3000] {
            let mut bad = format!("{{\"a\":\"{payload}\"}}").into_bytes();
            bad[at] = b'\n';
            assert!(scan(&bad).is_err(), "control character at {at}");
        }
    }

    /// Throughput of the scanner on a 100 MB state like the benchmark's (`cargo test
    /// --release -p terrace-domain --lib scan_throughput -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn scan_throughput() {
        let mut state = b"{\"version\":4,\"serial\":1,\"resources\":[".to_vec();
        let mut i = 0u64;
        while state.len() < 100_000_000 {
            if i > 0 {
                state.push(b',');
            }
            let payload: String = (0..200)
                .map(|j| format!("{:08x}", (i * 2654435761 + j) as u32))
                .collect();
            state.extend_from_slice(format!("{{\"mode\":\"managed\",\"type\":\"terraform_data\",\"name\":\"r{i}\",\"instances\":[{{\"schema_version\":0,\"attributes\":{{\"id\":\"{i}\",\"input\":{{\"value\":\"{payload}\",\"type\":\"string\"}}}}}}]}}").as_bytes());
            i += 1;
        }
        state.extend_from_slice(b"]}");
        let started = std::time::Instant::now();
        let mut scanner = StateScanner::new();
        for chunk in state.chunks(16 << 10) {
            scanner.feed(chunk).unwrap();
        }
        let found = scanner.finish().unwrap();
        let scanning = started.elapsed();
        let started = std::time::Instant::now();
        let mut md5 = <md5::Md5 as md5::Digest>::new();
        for chunk in state.chunks(16 << 10) {
            md5::Digest::update(&mut md5, chunk);
        }
        let _ = md5::Digest::finalize(md5);
        let hashing = started.elapsed();
        println!(
            "{} MB, {} resources: scan {:.0} ms, MD5 {:.0} ms",
            state.len() / 1_000_000,
            found.managed_resources,
            scanning.as_secs_f64() * 1e3,
            hashing.as_secs_f64() * 1e3
        );
    }

    #[test]
    fn rejects_what_is_not_a_json_object() {
        for bad in [
            "",
            "[]",
            "42",
            "{",
            "{\"a\":1",
            "{\"a\" 1}",
            "{\"a\":1,}",
            "{\"a\":[1,]}",
            "{\"a\":tru}",
            "{\"a\":1}}",
            "{\"a\":1} x",
            "{\"a\":\"unterminated}",
            "{\"serial\":1.5}",
            "{\"a\":\"bad\\qescape\"}",
        ] {
            assert!(scan(bad.as_bytes()).is_err(), "accepted {bad:?}");
        }
        assert!(scan(b"{}").is_ok());
        assert!(scan(b" {\"a\":[true,false,null,-1.2e-3,\"\\\"\"]} \n").is_ok());
    }

    #[test]
    fn the_real_cli_fixture_scans() {
        let found = scan(include_bytes!("../../tests/fixtures/terraform.tfstate")).unwrap();
        assert_eq!(found.serial, Some(4));
        assert_eq!(found.resources.len(), 1);
        assert_eq!(found.resources[0].count, 1);
    }
}
