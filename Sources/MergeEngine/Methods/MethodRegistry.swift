/// Every merge method Crucible knows, by name. Config validation, `crucible methods` and
/// docs/methods.md are generated from the methods' own declarations.
public enum MethodRegistry {
    public static let all: [any MergeMethod] = [
        Linear(),
        TaskArithmeticFamily.taskArithmetic, TaskArithmeticFamily.ties,
        TaskArithmeticFamily.dareTies, TaskArithmeticFamily.dareLinear,
        TaskArithmeticFamily.breadcrumbs, TaskArithmeticFamily.breadcrumbsTies,
        TaskArithmeticFamily.della, TaskArithmeticFamily.dellaLinear,
        Slerp(), NuSlerp(), MultiSlerp(), Karcher(), ModelStock(),
        Passthrough(), NearSwap(), SCE(), ArceeFusion(), RAM(plus: false), RAM(plus: true),
    ]

    public static var names: [String] { all.map(\.name) }

    public static func method(named name: String) -> (any MergeMethod)? {
        all.first { $0.name == name }
    }
}
